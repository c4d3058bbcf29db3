import type { Clock } from '../../src/clock.js';

/**
 * Failed authentications per remote address, in a sliding window. An address with `max`
 * failures within `windowMs` is refused at once until its oldest failure leaves the window.
 * The table is bounded: past `capacity` addresses the oldest is forgotten, so a flood from many
 * addresses cannot grow memory.
 */
export class FailureLimiter {
  readonly #failures = new Map<string, number[]>();

  constructor(
    private readonly clock: Clock,
    private readonly max: number,
    private readonly windowMs: number,
    private readonly capacity = 10_000,
  ) {}

  #recent(address: string): number[] {
    const since = this.clock.now() - this.windowMs;
    const times = (this.#failures.get(address) ?? []).filter((t) => t > since);
    if (times.length === 0) this.#failures.delete(address);
    else this.#failures.set(address, times);
    return times;
  }

  blocked(address: string): boolean {
    return this.#recent(address).length >= this.max;
  }

  fail(address: string): void {
    const times = this.#recent(address);
    times.push(this.clock.now());
    this.#failures.delete(address);
    this.#failures.set(address, times);
    if (this.#failures.size > this.capacity) this.#failures.delete(this.#failures.keys().next().value!);
  }
}
