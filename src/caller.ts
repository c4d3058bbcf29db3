import type { Envelope } from './envelope.js';

/** Who sent the message a service is handling (`context.caller()`). */
export interface Caller {
  /**
   * The sender's node, `machineId/processId/threadId`: the identity proven in the handshake of
   * the link the message came on, or this node's own for a message sent from its own thread.
   */
  readonly node: string;
  /** The number of the link it came on (unique in this thread); null from this thread. */
  readonly link: number | null;
}

/**
 * The message whose handler runs now in this thread: the actor sets it around the synchronous
 * part of a handler (one field write each way, no allocation on the delivery path).
 */
export const handling: { env: Envelope | null } = { env: null };
