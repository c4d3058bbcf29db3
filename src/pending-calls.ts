import type { Clock } from './clock.js';
import { PENDING, RENEW_ENDS_EVERY, SETTLED, type Envelope } from './envelope.js';
import { CallTimeoutError, CancelledError, type CallTarget } from './errors.js';

/** A doubly-linked list of pending calls, through `Envelope.prevDue` / `nextDue`. */
export class DueList {
  head: Envelope | null = null;
  tail: Envelope | null = null;

  append(env: Envelope): void {
    env.due = this;
    if (this.tail === null) this.head = env;
    else {
      this.tail.nextDue = env;
      env.prevDue = this.tail;
    }
    this.tail = env;
  }

  unlink(env: Envelope): void {
    if (env.prevDue === null) this.head = env.nextDue;
    else env.prevDue.nextDue = env.nextDue;
    if (env.nextDue === null) this.tail = env.prevDue;
    else env.nextDue.prevDue = env.prevDue;
    env.prevDue = env.nextDue = null;
    env.due = null;
  }
}

/**
 * Every call of a node waits here until it settles, exactly once: reply, service error, runtime
 * error, timeout or cancel.
 *
 * Deadlines cost neither a timer nor a clock read per call. A new call goes on the `fresh` list;
 * most in-thread calls settle within the event-loop turn that made them and leave it again. Once
 * per turn (one setImmediate), the calls still pending are stamped with a deadline and moved to
 * the list of their timeout value, where deadlines arrive sorted; a single timer is armed for
 * the earliest. A deadline is therefore never early, and late by at most the length of the turn
 * that made the call (a timer could not fire inside that turn anyway). Settling unlinks in O(1),
 * so a settled call is never retained.
 */
export class PendingCalls {
  /** Made anew now and then when empty, so that it stays a new object (see Ends in mailbox.ts). */
  #fresh = new DueList();
  #emptyTracks = 0;
  readonly #lists = new Map<number, DueList>();
  /** Set once the node stopped: what every later call fails with. */
  #closedWith: ((env: Envelope) => Error) | null = null;
  #stampScheduled = false;
  #timer: unknown = null;
  #armedAt = Infinity;
  #fire = (): void => this.#expire();
  #stamp = (): void => this.#stampFresh();

  constructor(
    private readonly clock: Clock,
    private readonly targetOf: (env: Envelope) => CallTarget,
  ) {}

  /** How many per-timeout deadline lists exist now (for diagnostics and tests). */
  get deadlineLists(): number {
    return this.#lists.size;
  }

  /** Starts waiting for `env` to settle: within `timeoutMs`, or until `signal` aborts. */
  track(env: Envelope, timeoutMs: number, signal: AbortSignal | undefined): void {
    env.timeoutMs = timeoutMs;
    let fresh = this.#fresh;
    if (fresh.head === null && ++this.#emptyTracks === RENEW_ENDS_EVERY) {
      this.#emptyTracks = 0;
      this.#fresh = fresh = new DueList();
    }
    fresh.append(env);
    if (this.#closedWith !== null) {
      // The node stopped: a call made now (a retry, a late look-up) fails at once, and arms no
      // deadline timer that would keep a stopped program alive.
      this.reject(env, this.#closedWith(env));
      return;
    }
    if (!this.#stampScheduled) {
      this.#stampScheduled = true;
      setImmediate(this.#stamp);
    }
    if (signal !== undefined) this.#watchAbort(env, signal);
  }

  /** Stamps the calls made during the last turn that are still pending, then arms the timer. */
  #stampFresh(): void {
    this.#stampScheduled = false;
    const now = this.clock.now();
    let earliest = Infinity;
    for (let env = this.#fresh.head; env !== null; env = this.#fresh.head) {
      this.#fresh.unlink(env);
      env.deadline = now + env.timeoutMs;
      let list = this.#lists.get(env.timeoutMs);
      if (list === undefined) this.#lists.set(env.timeoutMs, (list = new DueList()));
      list.append(env);
      if (env.deadline < earliest) earliest = env.deadline;
    }
    if (earliest < this.#armedAt) this.#arm(earliest);
  }

  resolve(env: Envelope, value: unknown): void {
    if (env.state !== PENDING) return;
    const resolve = env.resolve;
    this.#settle(env);
    // A call that came in over a link has no promise here: its reply goes back on the link.
    if (env.inbound) env.link!.reply(env, value);
    else resolve!(value);
  }

  reject(env: Envelope, error: unknown): void {
    if (env.state !== PENDING) return;
    const reject = env.reject;
    this.#settle(env);
    if (env.inbound) env.link!.fail(env, error);
    else reject!(error);
  }

  #settle(env: Envelope): void {
    env.state = SETTLED;
    env.resolve = env.reject = null;
    env.due?.unlink(env); // on no list: a call answered in its caller's turn (NodeCore.callNow)
    if (env.link !== null && !env.inbound) env.link.forget(env.id);
    if (env.signal !== null) {
      env.signal.removeEventListener('abort', env.onAbort!);
      env.signal = env.onAbort = null;
    }
  }

  #arm(due: number): void {
    if (this.#timer !== null) this.clock.clearTimer(this.#timer);
    this.#armedAt = due;
    this.#timer = this.clock.setTimer(this.#fire, Math.max(0, due - this.clock.now()));
  }

  #expire(): void {
    this.#timer = null;
    this.#armedAt = Infinity;
    const now = this.clock.now();
    let next = Infinity;
    for (const list of this.#lists.values()) {
      let env = list.head;
      while (env !== null && env.deadline <= now) {
        this.reject(env, new CallTimeoutError(this.targetOf(env), env.timeoutMs));
        env = list.head;
      }
      if (env !== null && env.deadline < next) next = env.deadline;
    }
    // Drop emptied lists, so that many distinct timeout values do not pile up.
    for (const [timeoutMs, list] of this.#lists) if (list.head === null) this.#lists.delete(timeoutMs);
    if (next !== Infinity) this.#arm(next);
  }

  /**
   * The node stops: every call still pending fails with `error`, and the deadline timer goes,
   * so nothing of the node keeps the process alive.
   */
  close(error: (env: Envelope) => Error): void {
    this.#closedWith = error;
    for (const list of [this.#fresh, ...this.#lists.values()]) {
      for (let env = list.head; env !== null; env = list.head) this.reject(env, error(env));
    }
    this.#lists.clear();
    if (this.#timer !== null) this.clock.clearTimer(this.#timer);
    this.#timer = null;
    this.#armedAt = Infinity;
  }

  #watchAbort(env: Envelope, signal: AbortSignal): void {
    if (signal.aborted) {
      this.reject(env, new CancelledError(this.targetOf(env), { cause: signal.reason }));
      return;
    }
    env.signal = signal;
    env.onAbort = (): void => this.reject(env, new CancelledError(this.targetOf(env), { cause: signal.reason }));
    signal.addEventListener('abort', env.onAbort, { once: true });
  }
}
