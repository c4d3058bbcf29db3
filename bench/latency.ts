/**
 * Call latency and throughput per locality, each beside its raw floor measured in the same run,
 * interleaved in rounds (floor, runtime, floor, runtime, ...) so that machine noise hits both.
 * Prints a table, or JSON rows with --json. Asserts nothing.
 *
 *   npm run bench              table
 *   npm run bench -- --json    one JSON object per row
 *   npm run bench -- --quick   fewer rounds (a smoke run)
 */
import { Service, start, type Remote } from '../src/index.js';

const json = process.argv.includes('--json');
const quick = process.argv.includes('--quick');
const ROUNDS = quick ? 3 : 15;
const SAMPLES = quick ? 2_000 : 20_000; // sequential calls timed one by one, per round
const THROUGHPUT_CALLS = quick ? 100_000 : 1_000_000;
const IN_FLIGHT = 100;
const POSTS = quick ? 200_000 : 2_000_000;
const POST_BURST = 5_000; // below the default mailbox bound (10,000)

class Echo extends Service {
  echo(x: number): number {
    return x;
  }
}

class Sink extends Service {
  count = 0;
  hit(): void {
    this.count++;
  }
  total(): number {
    return this.count;
  }
}

const resolved = Promise.resolve();
/**
 * The floor of an in-thread call, a call with no runtime: a new promise, one microtask hop to
 * the receiver, then the resolve and the hop back to the awaiting caller.
 */
function floorCall(x: number): Promise<number> {
  return new Promise((resolve) => void resolved.then(() => resolve(x)));
}

async function timeEach(samples: number, fn: (i: number) => Promise<unknown>, out: number[]): Promise<void> {
  for (let i = 0; i < samples; i++) {
    const t0 = performance.now();
    await fn(i);
    out.push(performance.now() - t0);
  }
}

async function rate(total: number, inFlight: number, fn: (i: number) => Promise<unknown>): Promise<number> {
  const per = total / inFlight;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      for (let i = 0; i < per; i++) await fn(i);
    }),
  );
  return total / ((performance.now() - t0) / 1000);
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

interface Row {
  locality: string;
  p50_us: number;
  p99_us: number;
  calls_per_s: number;
  posts_per_s: number | null;
  floor_p50_us: number;
  floor_calls_per_s: number;
  ratio: number;
}

async function direct(): Promise<Row> {
  const node = await start({ onWarning: () => {} });
  await node.spawn(Echo, { name: 'echo' });
  await node.spawn(Sink, { name: 'sink' });
  const echoService = await node.service<Echo>('echo');
  const sink = await node.service<Sink>('sink');
  const echo = (i: number): Promise<number> => echoService.echo(i);

  // Warm both paths so the JIT has settled before the first measured round.
  await timeEach(SAMPLES, floorCall, []);
  await timeEach(SAMPLES, echo, []);

  const floor: number[] = [];
  const runtime: number[] = [];
  const floorRates: number[] = [];
  const callRates: number[] = [];
  const postRates: number[] = [];
  const rateRounds = Math.max(3, Math.floor(ROUNDS / 3));
  for (let r = 0; r < ROUNDS; r++) {
    await timeEach(SAMPLES, floorCall, floor);
    await timeEach(SAMPLES, echo, runtime);
    if (r < rateRounds) {
      floorRates.push(await rate(THROUGHPUT_CALLS, IN_FLIGHT, floorCall));
      callRates.push(await rate(THROUGHPUT_CALLS, IN_FLIGHT, echo));
      postRates.push(await postRate(sink));
    }
  }
  await node.stop();
  floor.sort((a, b) => a - b);
  runtime.sort((a, b) => a - b);
  const p50 = pct(runtime, 0.5) * 1000;
  const floorP50 = pct(floor, 0.5) * 1000;
  return {
    locality: 'direct (same thread)',
    p50_us: round(p50),
    p99_us: round(pct(runtime, 0.99) * 1000),
    calls_per_s: Math.round(median(callRates)),
    posts_per_s: Math.round(median(postRates)),
    floor_p50_us: round(floorP50),
    floor_calls_per_s: Math.round(median(floorRates)),
    ratio: Math.round((p50 / floorP50) * 100) / 100,
  };
}

/** Posts in bursts below the mailbox bound; a call after each burst waits for it to drain. */
async function postRate(sink: Remote<Sink>): Promise<number> {
  const before = await sink.total();
  const hit = sink.hit.post;
  const t0 = performance.now();
  for (let sent = 0; sent < POSTS; sent += POST_BURST) {
    for (let i = 0; i < POST_BURST; i++) hit();
    await sink.total();
  }
  const seconds = (performance.now() - t0) / 1000;
  const handled = (await sink.total()) - before;
  if (handled !== POSTS) throw new Error(`bench: ${POSTS - handled} posts lost`);
  return POSTS / seconds;
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

const rows = [await direct()];
if (json) {
  for (const r of rows) console.log(JSON.stringify(r));
} else {
  console.log(`qiact bench: ${ROUNDS} interleaved rounds of ${SAMPLES} timed calls; ${IN_FLIGHT} in flight for calls/s (node ${process.version})`);
  console.table(
    rows.map((r) => ({
      locality: r.locality,
      'p50 µs': r.p50_us,
      'p99 µs': r.p99_us,
      'floor p50 µs': r.floor_p50_us,
      'p50 ratio': r.ratio,
      'calls/s': r.calls_per_s,
      'floor calls/s': r.floor_calls_per_s,
      'posts/s': r.posts_per_s,
    })),
  );
}
