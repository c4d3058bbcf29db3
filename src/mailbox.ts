import type { Envelope } from './envelope.js';
import { InvalidArgumentError } from './errors.js';

/**
 * What a full mailbox does with one more message:
 * - `reject`: the new message is refused; a call fails at once with MailboxFullError, a post is
 *   dropped and counted;
 * - `drop-oldest`: the oldest queued message makes room (a dropped call fails with
 *   MailboxFullError): for streams where only the latest value matters.
 */
export type OverflowPolicy = 'reject' | 'drop-oldest';

export interface MailboxOptions {
  /** Most messages queued at once (not counting the one being handled). Default 10,000. */
  capacity?: number;
  overflow?: OverflowPolicy;
}

export const DEFAULT_MAILBOX_CAPACITY = 10_000;

/** A bounded FIFO of envelopes, linked through `Envelope.next`: no array growth, no copying. */
export class Mailbox {
  readonly capacity: number;
  readonly overflow: OverflowPolicy;
  length = 0;
  /** Messages refused or dropped because the mailbox was full. */
  dropped = 0;
  /** The most messages it held at once. */
  peak = 0;
  #head: Envelope | null = null;
  #tail: Envelope | null = null;

  constructor(options: MailboxOptions = {}) {
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('mailbox', 'must be { capacity?, overflow? }');
    const capacity = options.capacity ?? DEFAULT_MAILBOX_CAPACITY;
    if (!Number.isSafeInteger(capacity) || capacity < 1) {
      throw new InvalidArgumentError('mailbox.capacity', `${capacity} must be a whole number >= 1`);
    }
    const overflow = options.overflow ?? 'reject';
    if (overflow !== 'reject' && overflow !== 'drop-oldest') {
      throw new InvalidArgumentError('mailbox.overflow', `'${String(overflow)}' must be 'reject' or 'drop-oldest'`);
    }
    this.capacity = capacity;
    this.overflow = overflow;
  }

  push(env: Envelope): void {
    if (this.#tail === null) this.#head = env;
    else this.#tail.next = env;
    this.#tail = env;
    if (++this.length > this.peak) this.peak = this.length;
  }

  shift(): Envelope | null {
    const env = this.#head;
    if (env === null) return null;
    this.#head = env.next;
    if (this.#head === null) this.#tail = null;
    env.next = null;
    this.length--;
    return env;
  }
}
