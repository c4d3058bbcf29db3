/**
 * What robots send, per path: a nested message of about 100 bytes, a laser scan (a 64 KiB
 * Float32Array) and a camera frame (a 1 MiB Uint8Array), each echoed by a service in a worker
 * (port), a service process (unix), another machine (tcp) and through that machine's Gateway,
 * beside the raw floor of the same path moving the same payload, interleaved in rounds. Then the
 * head-of-line rows: the p99 of small calls on a tcp link, idle and while 64 MiB payloads flow on
 * it to another service (one that owns what it gets, then one that borrows it), on a link the
 * receiving node dialed and on one it accepted. On the built
 * runtime (dist/). Asserts nothing.
 *
 *   npm run bench:payloads              table
 *   npm run bench:payloads -- --json    one JSON object per row
 *   npm run bench:payloads -- --quick   fewer rounds (a smoke run)
 *
 * Floors: port, a bare BroadcastChannel echo in the service's thread (structured clone both
 * ways, as the runtime's MessagePort); unix and tcp, a bare socket echo in the service's process
 * that gets the frame's bytes (header and CBOR of the call, encoded once) and sends them back;
 * gateway, the same bare echo over TLS (the door's certificate, TLS 1.3 as the client
 * negotiates it) in the Gateway's process. The gateway rows also carry the same call from inside
 * over TCP, measured in the same rounds (`inside_*`): what the door costs, TLS included. The
 * 1 MiB rows of unix and tcp come again with a caller that releases each result (`unix, released`).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createCodec } from '../dist/src/codec/cbor.js';
import { encodeFrame } from '../dist/src/codec/frames.js';
import { connect as connectGateway, hashToken, release, routeOf, start, type GatewayOptions, type Node, type Remote } from '../dist/src/index.js';
import { makeCerts } from '../test/_support/certs.js';
import { machineRow, machineState } from './machine-state.js';
import { Echo, MODULE, Sink } from './services.js';
import { median, pct, rate, round, timeEach } from './timing.js';

const json = process.argv.includes('--json');
const quick = process.argv.includes('--quick');
const ROUNDS = quick ? 2 : 8;
/** Big enough for a 64 MiB payload and its message around it. */
const MAX_MESSAGE = 80 * 1024 * 1024;
const LARGE = 64 * 1024 * 1024;

type Call = (i: number) => Promise<unknown>;

interface Payload {
  readonly name: string;
  readonly value: unknown;
  readonly bytes: number;
  /** Per round: sequential samples, and calls for the rate (with `inFlight` outstanding). */
  readonly samples: number;
  readonly calls: number;
  readonly inFlight: number;
}

const pose = {
  header: { stamp: { sec: 1732900000, nsec: 123456789 }, frame: 'base_link' },
  pose: { x: 1.25, y: -0.5, theta: 0.785 },
  ok: true,
};
const PAYLOADS: Payload[] = [
  { name: 'object ~100 B', value: pose, bytes: createCodec().encode(pose).length, samples: quick ? 300 : 1000, calls: quick ? 5_000 : 40_000, inFlight: 100 },
  { name: 'Float32Array 64 KiB', value: Float32Array.from({ length: 16 * 1024 }, (_, i) => Math.sin(i)), bytes: 64 * 1024, samples: quick ? 100 : 300, calls: quick ? 1_000 : 4_000, inFlight: 4 },
  { name: 'Uint8Array 1 MiB', value: new Uint8Array(1024 * 1024).fill(7), bytes: 1024 * 1024, samples: quick ? 20 : 60, calls: quick ? 100 : 400, inFlight: 4 },
];

type Row = {
  measure: 'payload';
  inside_p50_us?: number;
  inside_MB_per_s?: number;
  /** MB/s through the door over MB/s of the same call from inside. */
  inside_throughput_ratio?: number;
  payload: string;
  bytes: number;
  path: string;
  p50_us: number;
  p99_us: number;
  floor_p50_us: number;
  ratio: number;
  calls_per_s: number;
  floor_calls_per_s: number;
  MB_per_s: number;
  floor_MB_per_s: number;
  throughput_ratio: number;
  floor: string;
};

/** `inside`: a third series measured in the same rounds (the gateway rows' call from inside). */
async function measure(payload: Payload, path: string, floorName: string, floor: Call, call: Call, inside?: Call): Promise<Row> {
  await timeEach(Math.min(payload.samples, 50), floor, []);
  await timeEach(Math.min(payload.samples, 50), call, []);
  const floorTimes: number[] = [];
  const times: number[] = [];
  const insideTimes: number[] = [];
  const floorRates: number[] = [];
  const rates: number[] = [];
  const insideRates: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    await timeEach(payload.samples, floor, floorTimes);
    await timeEach(payload.samples, call, times);
    if (inside) await timeEach(payload.samples, inside, insideTimes);
    floorRates.push(await rate(payload.calls, payload.inFlight, floor));
    rates.push(await rate(payload.calls, payload.inFlight, call));
    if (inside) insideRates.push(await rate(payload.calls, payload.inFlight, inside));
  }
  insideTimes.sort((a, b) => a - b);
  const insideFields = inside
    ? {
        inside_p50_us: round(pct(insideTimes, 0.5) * 1000),
        inside_MB_per_s: Math.round((median(insideRates) * payload.bytes) / 1e6),
        inside_throughput_ratio: Math.round((median(rates) / median(insideRates)) * 100) / 100,
      }
    : {};
  floorTimes.sort((a, b) => a - b);
  times.sort((a, b) => a - b);
  const p50 = pct(times, 0.5) * 1000;
  const floorP50 = pct(floorTimes, 0.5) * 1000;
  const callsPerS = median(rates);
  const floorCallsPerS = median(floorRates);
  return {
    measure: 'payload',
    payload: payload.name,
    bytes: payload.bytes,
    path,
    p50_us: round(p50),
    p99_us: round(pct(times, 0.99) * 1000),
    floor_p50_us: round(floorP50),
    ratio: Math.round((p50 / floorP50) * 100) / 100,
    calls_per_s: Math.round(callsPerS),
    floor_calls_per_s: Math.round(floorCallsPerS),
    MB_per_s: Math.round((callsPerS * payload.bytes) / 1e6),
    floor_MB_per_s: Math.round((floorCallsPerS * payload.bytes) / 1e6),
    throughput_ratio: Math.round((callsPerS / floorCallsPerS) * 100) / 100,
    floor: floorName,
    ...insideFields,
  };
}

/** A call as the runtime sends it, carrying `value`: what the raw floors move. */
function callCarrying(value: unknown): Record<string, unknown> {
  return { kind: 'call', id: 1_000_000, to: 'bench/1/1/3', from: 'bench/1/0/0', method: 'bounce', args: [value], timeout: 30000 };
}

/** A floor over a BroadcastChannel echo in the worker's thread: structured clone both ways, FIFO. */
async function channelFloor(echo: Remote<Echo>, value: unknown): Promise<{ call: Call; close(): void }> {
  const name = `qiact-payload-bench-${process.pid}-${Math.random()}`;
  await echo.channelEcho(name);
  const channel = new BroadcastChannel(name);
  const waiting: (() => void)[] = [];
  channel.onmessage = () => waiting.shift()!();
  const message = callCarrying(value);
  return {
    call: () =>
      new Promise<void>((resolve) => {
        waiting.push(resolve);
        channel.postMessage(message);
      }),
    close: () => channel.close(),
  };
}

/** A floor over a bare socket echo in the service's process: the frame's bytes there and back. */
async function socketFloor(echo: Remote<Echo>, kind: 'unix' | 'tcp', value: unknown): Promise<{ call: Call; close(): void }> {
  const where = await echo.rawEcho(kind);
  const socket: Socket = typeof where === 'number' ? connect(where, '127.0.0.1') : connect(where);
  await new Promise((resolve) => socket.once('connect', resolve));
  return echoing(socket, value);
}

const certs = makeCerts();

/** A floor over a bare TLS echo in the Gateway's process: the frame's bytes there and back over TLS, as a client of the door sends them. */
async function tlsFloor(echo: Remote<Echo>, value: unknown): Promise<{ call: Call; close(): void }> {
  const port = await echo.tlsEcho(certs.server.cert, certs.server.key);
  const socket = connectTls({ port, host: '127.0.0.1', ca: certs.ca, servername: 'localhost' });
  await new Promise((resolve) => socket.once('secureConnect', resolve));
  return echoing(socket, value);
}

/** Calls that write the frame of a call carrying `value` on `socket` and wait for as many bytes back (a bare echo's far end). */
function echoing(socket: Socket, value: unknown): { call: Call; close(): void } {
  socket.setNoDelay(true);
  const frame = encodeFrame(createCodec().encode(callCarrying(value)));
  const waiting: (() => void)[] = [];
  let received = 0;
  socket.on('data', (chunk: Buffer) => {
    received += chunk.length;
    while (received >= frame.length && waiting.length > 0) {
      received -= frame.length;
      waiting.shift()!();
    }
  });
  return {
    call: () =>
      new Promise<void>((resolve) => {
        waiting.push(resolve);
        socket.write(frame);
      }),
    close: () => socket.destroy(),
  };
}

/** The other "machine": Echo as echo-tcp, Sink as sink-tcp, and a Gateway that takes large messages. */
async function otherMachine(node: Node): Promise<{ process: ChildProcess; gateway: string }> {
  const options: GatewayOptions = {
    listen: 'tls://127.0.0.1:0',
    cert: certs.server.cert,
    key: certs.server.key,
    tokens: { bench: hashToken('bench-token') },
    permissions: { bench: { allow: ['echo-tcp.*'] } },
    limits: { messagesPerSecond: 1e9, maxInFlight: 1000, maxFrame: MAX_MESSAGE, maxWriteBuffer: 4 * MAX_MESSAGE },
  };
  const file = join(certs.dir, 'bench-payload-gateway-options');
  writeFileSync(file, JSON.stringify(options));
  const env = {
    ...process.env,
    QIACT_MACHINE_ID: 'bench-payload-machine',
    QIACT_DIRECTORY: node.endpoints.find((e) => e.startsWith('tcp:'))!,
    QIACT_LISTEN: 'tcp:127.0.0.1:0',
    QIACT_MAX_MESSAGE_BYTES: String(MAX_MESSAGE),
    BENCH_GATEWAY: file,
    BENCH_SINK: '1',
  };
  const child = fork(fileURLToPath(new URL('./remote-node.ts', import.meta.url)), [], { env });
  const ready = (await new Promise((resolve) => child.once('message', resolve))) as { gateway: string };
  return { process: child, gateway: ready.gateway };
}

/**
 * Head-of-line blocking: the p99 of small calls to echo-tcp with the link idle, then while
 * 64 MiB payloads go to `sinkName` on the same link one after another (sink-tcp, which owns what
 * it gets, or borrowing-sink-tcp, which borrows it: see Service.borrowing). `receiver`: whether
 * the sink's node dialed the link or accepted it (both are read into one buffer of the thread
 * since 1b24bb6, transport/shared-reads.ts; before, only a dialed one was).
 */
async function headOfLine(node: Node, sinkName: string, receiver: 'dialed' | 'accepted'): Promise<Record<string, unknown>> {
  const echo = await node.service<Echo>('echo-tcp');
  const sink = await node.service<Sink>(sinkName);
  const samples = quick ? 500 : 3000;
  const idle: number[] = [];
  await timeEach(samples, (i) => echo.echo(i), idle);
  const large = new Uint8Array(LARGE).fill(3);
  let flowing = true;
  let moved = 0;
  const t0 = performance.now();
  const flow = (async () => {
    while (flowing) moved += await sink.swallow(large);
  })();
  // (The first large payload is on its way now: a call is sent when it is made.)
  const busy: number[] = [];
  await timeEach(samples, (i) => echo.echo(i), busy);
  flowing = false;
  await flow;
  const seconds = (performance.now() - t0) / 1000;
  idle.sort((a, b) => a - b);
  busy.sort((a, b) => a - b);
  return {
    measure: 'head-of-line',
    path: routeOf(echo).path,
    sink: sinkName,
    receiver,
    large_payload_MiB: LARGE / 2 ** 20,
    large_MB_per_s: Math.round(moved / seconds / 1e6),
    idle_p50_us: round(pct(idle, 0.5) * 1000),
    idle_p99_us: round(pct(idle, 0.99) * 1000),
    busy_p50_us: round(pct(busy, 0.5) * 1000),
    busy_p99_us: round(pct(busy, 0.99) * 1000),
    busy_max_us: round(busy[busy.length - 1]! * 1000),
  };
}

const node = await start({ machineId: 'bench-payloads', listen: ['tcp:127.0.0.1:0'], maxMessageBytes: MAX_MESSAGE, onWarning: () => {} });
await node.spawn(Echo, { name: 'echo-worker', in: 'worker', module: MODULE });
await node.spawn(Echo, { name: 'echo-process', in: 'process', module: MODULE });
const other = await otherMachine(node);
const worker = await node.service<Echo>('echo-worker');
const processEcho = await node.service<Echo>('echo-process');
const machine = await node.service<Echo>('echo-tcp');
const session = await connectGateway(other.gateway, { token: 'bench-token', ca: certs.ca, servername: 'localhost', onWarning: () => {} });
const outside = await session.service<Echo>('echo-tcp');

const rows: Record<string, unknown>[] = [];
for (const payload of PAYLOADS) {
  const bounce = (echo: Remote<Echo>): Call => () => echo.bounce(payload.value);
  const port = await channelFloor(worker, payload.value);
  rows.push(await measure(payload, routeOf(worker).path, 'bare BroadcastChannel echo', port.call, bounce(worker)));
  port.close();
  const unix = await socketFloor(processEcho, 'unix', payload.value);
  rows.push(await measure(payload, routeOf(processEcho).path, 'bare Unix socket echo of the frame', unix.call, bounce(processEcho)));
  unix.close();
  const tcp = await socketFloor(machine, 'tcp', payload.value);
  rows.push(await measure(payload, routeOf(machine).path, 'bare TCP echo of the frame', tcp.call, bounce(machine)));
  tcp.close();
  const tls = await tlsFloor(machine, payload.value);
  rows.push(await measure(payload, 'gateway', 'bare TLS echo of the frame', tls.call, bounce(outside), bounce(machine)));
  tls.close();
  if (!json) console.error(`bench: ${payload.name} done`);
}
// The 1 MiB rows of unix and tcp again, with a caller that gives each result's memory back
// (release()): the next result is received there instead of in fresh memory.
{
  const payload = PAYLOADS[2]!;
  const releasing = (echo: Remote<Echo>): Call => async () => release((await echo.bounce(payload.value)) as Uint8Array);
  const unix = await socketFloor(processEcho, 'unix', payload.value);
  rows.push(await measure(payload, `${routeOf(processEcho).path}, released`, 'bare Unix socket echo of the frame', unix.call, releasing(processEcho)));
  unix.close();
  const tcp = await socketFloor(machine, 'tcp', payload.value);
  rows.push(await measure(payload, `${routeOf(machine).path}, released`, 'bare TCP echo of the frame', tcp.call, releasing(machine)));
  tcp.close();
}
// The other machine dialed this node (it joined its directory), so its sinks read a link it
// dialed. A second node here, which dials the other machine when it first calls it, makes a
// link that the sinks' node accepted.
rows.push(await headOfLine(node, 'sink-tcp', 'dialed'), await headOfLine(node, 'borrowing-sink-tcp', 'dialed'));
const dialer = await start({ machineId: 'bench-payloads-dialer', directory: node.endpoints.find((e) => e.startsWith('tcp:'))!, maxMessageBytes: MAX_MESSAGE, onWarning: () => {} });
rows.push(await headOfLine(dialer, 'sink-tcp', 'accepted'), await headOfLine(dialer, 'borrowing-sink-tcp', 'accepted'));
await dialer.stop();
await session.close();
other.process.send('stop');
await node.stop();

if (json) {
  console.log(JSON.stringify(machineRow()));
  for (const row of rows) console.log(JSON.stringify(row));
} else {
  console.log(machineState());
  console.log(`qiact payload bench: ${ROUNDS} interleaved rounds (floor, runtime) per row; MB/s is payload bytes one way (node ${process.version})`);
  console.table(
    rows
      .filter((r) => r.measure === 'payload')
      .map((r) => ({
        payload: r.payload,
        path: r.path,
        'p50 µs': r.p50_us,
        'floor p50 µs': r.floor_p50_us,
        'p50 ratio': r.ratio,
        'MB/s': r.MB_per_s,
        'floor MB/s': r.floor_MB_per_s,
        'MB/s ratio': r.throughput_ratio,
        'calls/s': r.calls_per_s,
        'inside MB/s': r.inside_MB_per_s ?? '',
        'of inside': r.inside_throughput_ratio ?? '',
      })),
  );
  console.table(rows.filter((r) => r.measure === 'head-of-line'));
}
