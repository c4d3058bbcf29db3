/**
 * Upper bounds, in microseconds, of the buckets of a handling-time histogram: 1-2-5 steps from
 * 1 µs to 10 s (the same bounds everywhere, so samples of many actors and nodes add up).
 */
export const BUCKET_BOUNDS_US: readonly number[] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 2e6, 5e6, 1e7];

/** A histogram as plain data (what `node.metrics()` and the wire carry). */
export interface HistogramData {
  /** Values recorded. */
  readonly count: number;
  /** Their sum, in microseconds. */
  readonly sum: number;
  /** Counts per bucket of {@link BUCKET_BOUNDS_US}, then one for larger values. */
  readonly buckets: readonly number[];
}

/** Fixed buckets: recording is a short scan and an increment, no allocation. */
export class Histogram {
  count = 0;
  sum = 0;
  readonly buckets = new Array<number>(BUCKET_BOUNDS_US.length + 1).fill(0);

  record(us: number): void {
    let i = 0;
    while (i < BUCKET_BOUNDS_US.length && us > BUCKET_BOUNDS_US[i]!) i++;
    this.buckets[i]!++;
    this.count++;
    this.sum += us;
  }

  data(): HistogramData {
    return { count: this.count, sum: this.sum, buckets: [...this.buckets] };
  }
}

/**
 * The value under which `q` (0..1) of the recorded values fall, as the upper bound of the bucket
 * that holds it (so an estimate from above); null when nothing was recorded.
 */
export function quantile(h: HistogramData, q: number): number | null {
  if (h.count === 0) return null;
  const rank = Math.max(1, Math.ceil(q * h.count));
  let seen = 0;
  for (let i = 0; i < h.buckets.length; i++) {
    seen += h.buckets[i]!;
    if (seen >= rank) return BUCKET_BOUNDS_US[i] ?? Infinity;
  }
  return Infinity;
}
