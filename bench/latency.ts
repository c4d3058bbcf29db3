/**
 * Call latency and throughput per locality, each beside its raw floor measured in the same run,
 * interleaved in rounds (floor, runtime, floor, runtime, ...) so that machine noise hits both.
 * Prints a table, or JSON rows with --json. Asserts nothing.
 *
 *   npm run bench              table
 *   npm run bench -- --json    one JSON object per row
 *   npm run bench -- --quick   fewer rounds (a smoke run)
 *   npm run bench -- --only unix   one row (direct, port, unix, tcp, tls, gateway, wss or xmpp)
 */
import { fork, type ChildProcess } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { createCodec } from '../dist/src/codec/cbor.js';
import { encodeFrame } from '../dist/src/codec/frames.js';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as connectGateway, hashToken, routeOf, start, type GatewayOptions, type Node, type Remote, type XmppLinkOptions } from '../dist/src/index.js';
import { makeCerts } from '../test/_support/certs.js';
import { startProsody, type Prosody } from '../test/_support/prosody.js';
import { Echo, MODULE, Sink } from './services.js';
import { machineState } from './machine-state.js';
import { median, pct, rate, round, timeEach } from './timing.js';

const json = process.argv.includes('--json');
const quick = process.argv.includes('--quick');
const ROUNDS = quick ? 3 : 15;
const SAMPLES = quick ? 2_000 : 20_000; // sequential calls timed one by one, per round
const THROUGHPUT_CALLS = quick ? 100_000 : 1_000_000;
/**
 * Across threads, processes and machines a round trip costs tens of µs, and the machine flips
 * between a fast and a slow mode (the two ends on one core or on two): short rounds, many of
 * them, so that floor and runtime sample both modes alike.
 */
const REMOTE_ROUNDS = quick ? 3 : 60;
const REMOTE_SAMPLES = quick ? 300 : 500;
const REMOTE_CALLS = quick ? 20_000 : 200_000;
const IN_FLIGHT = 100;
const POSTS = quick ? 200_000 : 2_000_000;
const POST_BURST = 5_000; // below the default mailbox bound (10,000)

const resolved = Promise.resolve();
/**
 * The floor of an in-thread call, a call with no runtime: a new promise, one microtask hop to
 * the receiver, then the resolve and the hop back to the awaiting caller.
 */
function floorCall(x: number): Promise<unknown> {
  return new Promise((resolve) => void resolved.then(() => resolve(x)));
}

interface Row {
  locality: string;
  path: string;
  p50_us: number;
  p99_us: number;
  calls_per_s: number;
  posts_per_s: number | null;
  floor: string;
  floor_p50_us: number;
  floor_calls_per_s: number;
  ratio: number;
}

type Call = (i: number) => Promise<unknown>;

/**
 * One row: the runtime's call beside its raw floor, interleaved in rounds (floor, runtime,
 * floor, runtime...) so that machine noise hits both; p50/p99 of sequential calls, and calls/s
 * with IN_FLIGHT calls outstanding.
 */
async function measure(
  locality: string,
  path: string,
  floorName: string,
  floorCall: Call,
  call: Call,
  counts: { rounds: number; samples: number; calls: number },
  posts?: () => Promise<number>,
): Promise<Row> {
  // Warm both paths so the JIT has settled before the first measured round.
  await timeEach(counts.samples, floorCall, []);
  await timeEach(counts.samples, call, []);
  const floor: number[] = [];
  const runtime: number[] = [];
  const floorRates: number[] = [];
  const callRates: number[] = [];
  const postRates: number[] = [];
  const rateRounds = Math.max(3, Math.floor(ROUNDS / 3));
  const rateEvery = Math.max(1, Math.floor(counts.rounds / rateRounds));
  for (let r = 0; r < counts.rounds; r++) {
    await timeEach(counts.samples, floorCall, floor);
    await timeEach(counts.samples, call, runtime);
    if (r % rateEvery === 0 && floorRates.length < rateRounds) {
      floorRates.push(await rate(counts.calls, IN_FLIGHT, floorCall));
      callRates.push(await rate(counts.calls, IN_FLIGHT, call));
      if (posts) postRates.push(await posts());
    }
  }
  floor.sort((a, b) => a - b);
  runtime.sort((a, b) => a - b);
  const p50 = pct(runtime, 0.5) * 1000;
  const floorP50 = pct(floor, 0.5) * 1000;
  return {
    locality,
    path,
    p50_us: round(p50),
    p99_us: round(pct(runtime, 0.99) * 1000),
    calls_per_s: Math.round(median(callRates)),
    posts_per_s: posts ? Math.round(median(postRates)) : null,
    floor: floorName,
    floor_p50_us: round(floorP50),
    floor_calls_per_s: Math.round(median(floorRates)),
    ratio: Math.round((p50 / floorP50) * 100) / 100,
  };
}

async function direct(node: Node): Promise<Row> {
  await node.spawn(Echo, { name: 'echo' });
  await node.spawn(Sink, { name: 'sink' });
  const echo = await node.service<Echo>('echo');
  const sink = await node.service<Sink>('sink');
  const counts = { rounds: ROUNDS, samples: SAMPLES, calls: THROUGHPUT_CALLS };
  return measure('same thread', routeOf(echo).path, 'promise + microtask hop', floorCall, (i) => echo.echo(i), counts, () => postRate(sink));
}

/** The message every raw floor carries: a small call, as the runtime would send it. */
function sampleCall(i: number): Record<string, unknown> {
  return { kind: 'call', id: i, to: 'bench/1/1/3', from: 'bench/1/0/0', method: 'echo', args: [i], timeout: 30000 };
}

async function worker(node: Node): Promise<Row> {
  await node.spawn(Echo, { name: 'echo-worker', in: 'worker', module: MODULE });
  const echo = await node.service<Echo>('echo-worker');
  // Floor: the service's own thread posts each message back on a BroadcastChannel; FIFO, so
  // replies match calls in order.
  const name = `qiact-bench-${process.pid}`;
  await echo.channelEcho(name);
  const channel = new BroadcastChannel(name);
  const waiting: ((m: unknown) => void)[] = [];
  channel.onmessage = (event) => waiting.shift()!((event as MessageEvent).data);
  const floor: Call = (i) =>
    new Promise((resolve) => {
      waiting.push(resolve);
      channel.postMessage(sampleCall(i));
    });
  const row = await measure('other thread', routeOf(echo).path, 'bare BroadcastChannel echo', floor, (i) => echo.echo(i), { rounds: REMOTE_ROUNDS, samples: REMOTE_SAMPLES, calls: REMOTE_CALLS });
  channel.close();
  return row;
}

/**
 * A bare socket echo in the service's own process (so floor and runtime are answered by the same
 * process); each floor call writes one framed CBOR call and waits for its bytes back.
 */
async function socketFloor(echo: Remote<Echo>, kind: 'unix' | 'tcp'): Promise<{ call: Call; close(): void }> {
  const where = await echo.rawEcho(kind);
  const socket: Socket = typeof where === 'number' ? connect(where, '127.0.0.1') : connect(where);
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.setNoDelay(true);
  const codec = createCodec();
  const frameLength = encodeFrame(codec.encode(sampleCall(1_000_000))).length;
  const waiting: (() => void)[] = [];
  let received = 0;
  socket.on('data', (chunk) => {
    received += chunk.length;
    while (received >= frameLength && waiting.length > 0) {
      received -= frameLength;
      waiting.shift()!();
    }
  });
  const call: Call = (i) =>
    new Promise<void>((resolve) => {
      waiting.push(resolve);
      socket.write(encodeFrame(codec.encode(sampleCall(1_000_000 + (i % 1000)))));
    });
  return {
    call,
    close: () => socket.destroy(),
  };
}

async function process_(node: Node): Promise<Row> {
  await node.spawn(Echo, { name: 'echo-process', in: 'process', module: MODULE });
  const echo = await node.service<Echo>('echo-process');
  const floor = await socketFloor(echo, 'unix');
  const row = await measure('other process', routeOf(echo).path, 'bare Unix socket echo', floor.call, (i) => echo.echo(i), { rounds: REMOTE_ROUNDS, samples: REMOTE_SAMPLES, calls: REMOTE_CALLS });
  floor.close();
  return row;
}

/** The other "machine" (its own process and machine id), started once for the tcp, gateway and xmpp rows. */
let other: Promise<{ process: ChildProcess; gateway: string; webSocket: string; xmpp: string | null }> | null = null;
const certs = makeCerts();
/** Cleanups of what the bench started (the XMPP server). */
const cleanups: (() => unknown)[] = [];

/**
 * A local XMPP server (Debian's prosody) for the xmpp row, with accounts for the robot and a
 * client; null, with a note, where prosody is not installed.
 */
async function xmppServer(): Promise<Prosody | null> {
  if (!existsSync('/usr/bin/prosody')) {
    console.error('bench: no xmpp row: prosody is not installed (apt-get install prosody)');
    return null;
  }
  const server = await startProsody({ teardown: (fn) => void cleanups.push(fn) });
  server.register('robot1', 'robot-pw');
  server.register('bench', 'bench-pw');
  return server;
}

function otherMachine(node: Node, withXmpp = false): Promise<{ process: ChildProcess; gateway: string; webSocket: string; xmpp: string | null }> {
  other ??= (async () => {
    const tcp = node.endpoints.find((e) => e.startsWith('tcp:'))!;
    // Its gateway lets the bench's client in with a token, with limits far above the load here.
    const options: GatewayOptions = {
      listen: 'tls://127.0.0.1:0',
      webSocket: { listen: 'wss://127.0.0.1:0' },
      cert: certs.server.cert,
      key: certs.server.key,
      tokens: { bench: hashToken('bench-token') },
      permissions: { bench: { allow: ['echo-tcp.*'] } },
      limits: { messagesPerSecond: 1e9, maxInFlight: 10 * IN_FLIGHT },
    };
    const file = join(certs.dir, 'bench-gateway-options');
    writeFileSync(file, JSON.stringify(options));
    const server = withXmpp ? await xmppServer() : null;
    const xmpp: Partial<XmppLinkOptions> = server === null ? {} : {
      service: server.service,
      domain: server.domain,
      username: 'robot1',
      password: 'robot-pw',
      permissions: { 'bench@localhost': { allow: ['echo-tcp.*'] } },
      limits: { messagesPerSecond: 1e9, maxInFlight: 10 * IN_FLIGHT },
    };
    const env = {
      ...process.env,
      QIACT_MACHINE_ID: 'bench-other-machine',
      QIACT_DIRECTORY: tcp,
      QIACT_LISTEN: 'tcp:127.0.0.1:0',
      BENCH_GATEWAY: file,
      ...(server === null ? {} : { BENCH_XMPP: JSON.stringify(xmpp) }),
    };
    const child: ChildProcess = fork(fileURLToPath(new URL('./remote-node.ts', import.meta.url)), [], { env });
    const ready = (await new Promise((resolve) => child.once('message', resolve))) as { gateway: string; webSocket: string };
    return { process: child, gateway: ready.gateway, webSocket: ready.webSocket, xmpp: server?.service ?? null };
  })();
  return other;
}

/**
 * Another "machine" whose node listens on TLS only (mutual certificates from the bench's CA): the
 * same call as the tcp row over a tls: link. Its "floor" is the tcp row's call, so the ratio is
 * what TLS costs a steady link (the handshake is paid once per link: see handshake.ts).
 */
async function overTls(node: Node): Promise<Row> {
  // It joins the directory over TLS too: one link per pair of nodes, and the one it opens is the one used.
  const tls = node.endpoints.find((e) => e.startsWith('tls:'))!;
  await otherMachine(node, true);
  const files = { cert: join(certs.dir, 'server.crt'), key: join(certs.dir, 'server.key'), ca: join(certs.dir, 'test-ca.crt') };
  const env = { ...process.env, QIACT_MACHINE_ID: 'bench-tls-machine', QIACT_DIRECTORY: tls, QIACT_LISTEN: 'tls:127.0.0.1:0', QIACT_TLS_CERT: files.cert, QIACT_TLS_KEY: files.key, QIACT_TLS_CA: files.ca, BENCH_NAME: 'echo-tls' };
  const child: ChildProcess = fork(fileURLToPath(new URL('./remote-node.ts', import.meta.url)), [], { env });
  await new Promise((resolve) => child.once('message', resolve));
  const inside = await node.service<Echo>('echo-tcp');
  const echo = await node.service<Echo>('echo-tls');
  const row = await measure('other machine, TLS', routeOf(echo).path, 'the same call over plain TCP', (i) => inside.echo(i), (i) => echo.echo(i), { rounds: REMOTE_ROUNDS, samples: REMOTE_SAMPLES, calls: REMOTE_CALLS });
  child.send('stop');
  return row;
}

async function machine(node: Node): Promise<Row> {
  await otherMachine(node, true);
  const echo = await node.service<Echo>('echo-tcp');
  const floor = await socketFloor(echo, 'tcp');
  const row = await measure('other machine', routeOf(echo).path, 'bare TCP loopback echo', floor.call, (i) => echo.echo(i), { rounds: REMOTE_ROUNDS, samples: REMOTE_SAMPLES, calls: REMOTE_CALLS });
  floor.close();
  return row;
}

/**
 * A client outside the robot calling the same service through the Gateway (TLS, token, the
 * permission check, a hop inside the gateway's process), beside the call the tcp row makes from
 * inside: the "floor" of this row is the runtime's own TCP call, so the ratio is the gateway's cost.
 */
async function outside(node: Node): Promise<Row> {
  const { gateway: url } = await otherMachine(node, true);
  const inside = await node.service<Echo>('echo-tcp');
  const session = await connectGateway(url, { token: 'bench-token', ca: certs.ca, servername: 'localhost', onWarning: () => {} });
  const echo = await session.service<Echo>('echo-tcp');
  const row = await measure('outside, a client', routeOf(echo).path, 'the same call from inside over TCP', (i) => inside.echo(i), (i) => echo.echo(i), {
    rounds: REMOTE_ROUNDS,
    samples: REMOTE_SAMPLES,
    calls: REMOTE_CALLS,
  });
  await session.close();
  return row;
}

/**
 * The same client through the Gateway's WebSocket door (wss://), beside the same call through
 * its TLS door: what a WebSocket costs over the raw TLS session.
 */
async function overWebSocket(node: Node): Promise<Row> {
  const { gateway: url, webSocket } = await otherMachine(node, true);
  const options = { token: 'bench-token', ca: certs.ca, servername: 'localhost', onWarning: () => {} };
  const tls = await connectGateway(url, options);
  const ws = await connectGateway(webSocket, options);
  const overTls = await tls.service<Echo>('echo-tcp');
  const echo = await ws.service<Echo>('echo-tcp');
  const row = await measure('outside, a WebSocket client', 'wss', 'the same call through the TLS door', (i) => overTls.echo(i), (i) => echo.echo(i), {
    rounds: REMOTE_ROUNDS,
    samples: REMOTE_SAMPLES,
    calls: REMOTE_CALLS,
  });
  await Promise.all([tls.close(), ws.close()]);
  return row;
}

/**
 * A client calling the same service through a local XMPP server (prosody) and the robot's XMPP
 * link, beside the same call from inside over TCP: what the XMPP route costs.
 */
async function overXmpp(node: Node): Promise<Row | null> {
  const { xmpp: service } = await otherMachine(node, true);
  if (service === null) return null;
  const inside = await node.service<Echo>('echo-tcp');
  const session = await connectGateway('xmpp:robot1@localhost', { jid: 'bench@localhost', password: 'bench-pw', service, onWarning: () => {} });
  const echo = await session.service<Echo>('echo-tcp');
  const row = await measure('outside, over XMPP', routeOf(echo).path, 'the same call from inside over TCP', (i) => inside.echo(i), (i) => echo.echo(i), {
    rounds: Math.min(REMOTE_ROUNDS, 10),
    samples: Math.min(REMOTE_SAMPLES, 300),
    calls: Math.min(REMOTE_CALLS, 10_000),
  });
  await session.close();
  return row;
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


// A certificate from the bench's CA: the node dials tls: endpoints where a machine offers them.
const node = await start({ machineId: 'bench', listen: ['tcp:127.0.0.1:0', 'tls:127.0.0.1:0'], tls: { ...certs.alice, ca: certs.ca }, onWarning: () => {} });
// `--only port` (or direct, unix, tcp, tls, gateway, wss, xmpp) runs one row.
const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined;
const rowsByPath: [string, (n: Node) => Promise<Row | null>][] = [
  ['direct', direct],
  ['port', worker],
  ['unix', process_],
  ['tcp', machine],
  ['tls', overTls],
  ['gateway', outside],
  ['wss', overWebSocket],
  ['xmpp', overXmpp],
];
const rows: Row[] = [];
for (const [path, measureRow] of rowsByPath) {
  if (only !== undefined && only !== path) continue;
  const row = await measureRow(node);
  if (row !== null) rows.push(row);
}
// (Set inside otherMachine(), which TypeScript's narrowing does not see.)
const started = other as Promise<{ process: ChildProcess }> | null;
if (started !== null) (await started).process.send('stop');
await node.stop();
for (const cleanup of cleanups) await cleanup();
if (json) {
  for (const r of rows) console.log(JSON.stringify(r));
} else {
  console.log(machineState());
  console.log(`qiact bench: ${ROUNDS} interleaved rounds (floor, runtime) of timed calls; ${IN_FLIGHT} in flight for calls/s (node ${process.version})`);
  console.table(
    rows.map((r) => ({
      locality: r.locality,
      path: r.path,
      'p50 µs': r.p50_us,
      'p99 µs': r.p99_us,
      'floor p50 µs': r.floor_p50_us,
      'p50 ratio': r.ratio,
      'calls/s': r.calls_per_s,
      'floor calls/s': r.floor_calls_per_s,
      'posts/s': r.posts_per_s ?? '',
      floor: r.floor,
    })),
  );
}
