import type { Clock } from '../clock.js';

/**
 * Restart intensity as OTP defines it: more than `maxRestarts` restarts within any window of
 * `periodMs` and the supervisor gives up. A sliding window of monotonic timestamps.
 */
export class RestartIntensity {
  #stamps: number[] = [];

  constructor(
    readonly maxRestarts: number,
    readonly periodMs: number,
    private readonly clock: Clock,
  ) {}

  /** Records one restart; false when that restart exceeds the intensity. */
  record(): boolean {
    const now = this.clock.now();
    this.#stamps = this.#stamps.filter((t) => now - t < this.periodMs);
    this.#stamps.push(now);
    return this.#stamps.length <= this.maxRestarts;
  }
}
