/** The timing helpers the benches share: sequential samples, a rate with calls in flight, percentiles. */

/** Times `samples` calls made one after another, appending each one's milliseconds to `out`. */
export async function timeEach(samples: number, fn: (i: number) => Promise<unknown>, out: number[]): Promise<void> {
  for (let i = 0; i < samples; i++) {
    const t0 = performance.now();
    await fn(i);
    out.push(performance.now() - t0);
  }
}

/** Calls per second over `total` calls with `inFlight` of them outstanding at any time. */
export async function rate(total: number, inFlight: number, fn: (i: number) => Promise<unknown>): Promise<number> {
  const per = Math.ceil(total / inFlight);
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      for (let i = 0; i < per; i++) await fn(i);
    }),
  );
  return (per * inFlight) / ((performance.now() - t0) / 1000);
}

/** The `p` quantile (0..1) of an ascending list. */
export function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Three decimals. */
export function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
