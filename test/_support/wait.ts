/** A promise with its settle functions outside: for "wait until this event happens". */
export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/**
 * The deadline of a wait that includes starting a worker thread or a child process. Alone, one
 * starts in under a second from TypeScript source; with the suite loading both cores of a 2-core
 * machine (two test files at once, coverage on) starts of 4-5 s were seen. A deadline is a guard
 * that turns a hang into a failure naming what did not happen, never the expected duration.
 */
export const CHILD_START_MS = 30_000;

/**
 * Waits for `promise`, failing with `what` after `ms` (a guard so a broken test fails with a
 * message instead of hanging until ava's own timeout; not a sleep).
 */
export async function within<T>(promise: Promise<T>, what: string, ms = 5000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, guard]);
  } finally {
    clearTimeout(timer);
  }
}

/** Collects values and lets a test wait until `n` have arrived. */
export class Collector<T> {
  readonly values: T[] = [];
  #waiters: { n: number; done: () => void }[] = [];

  readonly push = (value: T): void => {
    this.values.push(value);
    this.#waiters = this.#waiters.filter((w) => {
      if (this.values.length < w.n) return true;
      w.done();
      return false;
    });
  };

  /** Resolves once `n` values in all have arrived. */
  async count(n: number, what = `${n} values`): Promise<T[]> {
    if (this.values.length < n) {
      const d = deferred();
      this.#waiters.push({ n, done: d.resolve });
      await within(d.promise, what);
    }
    return this.values;
  }
}
