import type { Actor } from './actor.js';
import type { DueList } from './pending-calls.js';

/** Envelope states: a post never settles; a call is pending until settled exactly once. */
export const POST = 0;
export const PENDING = 1;
export const SETTLED = 2;

/**
 * One message in flight inside a node. A single monomorphic class on purpose: it is the mailbox
 * list node, the pending-call record and the deadline list node at once, so a call allocates
 * this object and its promise, nothing else.
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

  constructor(
    readonly target: Actor,
    readonly method: string,
    readonly args: unknown[],
    call: boolean,
  ) {
    this.state = call ? PENDING : POST;
  }
}
