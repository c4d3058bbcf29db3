import type { Context } from '@opentelemetry/api';
import type { CallTarget } from './errors.js';
import type { DueList } from './pending-calls.js';

/** Envelope states: a post never settles; a call is pending until settled exactly once. */
export const POST = 0;
export const PENDING = 1;
export const SETTLED = 2;

/**
 * How many times an empty list of envelopes (a mailbox, the calls made this turn) is filled again
 * before the object holding its ends is made anew, so that it stays a new object: see Ends in
 * mailbox.ts.
 */
export const RENEW_ENDS_EVERY = 64;

/** Where a message goes: an actor of this thread, or one reached through a peer node. */
export interface Destination {
  /** How errors about a call to `method` name the receiver. */
  target(method: string): CallTarget;
}

/** What an envelope needs from the link a call travels on (see routing/peer.ts). */
export interface CallLink {
  /** The node at the other end, as proven in the handshake. */
  readonly key: string;
  /** The link's number, unique in this thread. */
  readonly id: number;
  /** Caller side: the call settled here (timeout, cancel, reply), so forget its id. */
  forget(id: number): void;
  /** Receiver side: send the outcome of the inbound call `env` back to its caller. */
  reply(env: Envelope, value: unknown): void;
  fail(env: Envelope, error: unknown): void;
}

/**
 * One message in flight. A single monomorphic class on purpose: it is the mailbox list node,
 * the pending-call record and the deadline list node at once, so a call allocates this object
 * and its promise, nothing else.
 */
export class Envelope {
  state: number;
  /** Mailbox link. */
  next: Envelope | null = null;
  /** The pending-call list this call is on, and its links there (calls only). */
  due: DueList | null = null;
  prevDue: Envelope | null = null;
  nextDue: Envelope | null = null;
  deadline = 0;
  timeoutMs = 0;
  resolve: ((value: unknown) => void) | null = null;
  reject: ((reason: unknown) => void) | null = null;
  /** Set only when the caller passed an AbortSignal: the signal and the listener to remove. */
  signal: AbortSignal | null = null;
  onAbort: (() => void) | null = null;
  /**
   * A call that crosses a link: on the caller's side the link it was sent on, on the receiver's
   * side the link its reply goes back on (`inbound`); `id` numbers it on that link. A post that
   * came over a link has it too (its sender, for `context.caller()`).
   */
  link: CallLink | null = null;
  id = 0;
  inbound = false;
  /** Inbound: the address of the actor that called (a reply keeps its order with that pair's other messages). */
  from: string | null = null;
  /** The trace context it carries (set only while an OpenTelemetry SDK is registered). */
  trace: Context | null = null;

  constructor(
    readonly target: Destination,
    readonly method: string,
    readonly args: unknown[],
    call: boolean,
  ) {
    this.state = call ? PENDING : POST;
  }
}
