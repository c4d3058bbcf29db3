/**
 * Time as the runtime sees it. Call deadlines and restart-intensity windows go through a Clock so
 * that tests can drive time by hand instead of sleeping.
 */
export interface Clock {
  /** Monotonic milliseconds. */
  now(): number;
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  // Not unref'd: a timer is armed only while something waits on it (a pending call's deadline,
  // a shutdown), and that wait must settle rather than the process quietly exit under it.
  setTimer: (fn, ms) => setTimeout(fn, ms),
  clearTimer: (h) => clearTimeout(h as NodeJS.Timeout),
};

interface ManualTimer {
  at: number;
  fn: () => void;
  cancelled: boolean;
}

/** A clock that moves only when `advance()` is called: for deterministic tests. */
export class ManualClock implements Clock {
  #now = 0;
  #timers: ManualTimer[] = [];

  now(): number {
    return this.#now;
  }

  setTimer(fn: () => void, ms: number): unknown {
    const timer = { at: this.#now + Math.max(0, ms), fn, cancelled: false };
    this.#timers.push(timer);
    return timer;
  }

  clearTimer(handle: unknown): void {
    (handle as ManualTimer).cancelled = true;
  }

  /** Moves time forward, firing due timers in deadline order. */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      const due = this.#timers.filter((t) => !t.cancelled && t.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.#now = due.at;
      due.cancelled = true;
      due.fn();
    }
    this.#timers = this.#timers.filter((t) => !t.cancelled);
    this.#now = end;
  }
}

/** Lets the process exit while `timer` is armed (Node); a browser's timers have no such thing. */
export function unrefTimer(timer: unknown): void {
  (timer as { unref?: () => void }).unref?.();
}
