/**
 * What a new link between two nodes costs: connecting, then the authenticated handshake (both
 * ends prove they hold the robot's secret), beside the bare connect in the same run,
 * interleaved. Steady-state calls do not pay for it: a link is made once per pair of nodes.
 * Prints a table, or JSON rows with --json. Asserts nothing.
 */
import { connect, type Socket } from 'node:net';
import { systemClock } from '../dist/src/clock.js';
import { start } from '../dist/src/index.js';
import { robotSecret } from '../dist/src/robot-secret.js';
import { handshake } from '../dist/src/transport/handshake.js';
import { SocketLink } from '../dist/src/transport/socket-link.js';
import { machineState } from './machine-state.js';

const json = process.argv.includes('--json');
const quick = process.argv.includes('--quick');
const ROUNDS = quick ? 3 : 20;
const PER_ROUND = quick ? 20 : 50;

const node = await start({ machineId: 'bench-handshake', listen: ['tcp:127.0.0.1:0'], onWarning: () => {} });
const secret = robotSecret();
let dialler = 0;

function open(endpoint: string): Promise<Socket> {
  const tcp = /^tcp:(.+):(\d+)$/.exec(endpoint);
  const socket = tcp ? connect(Number(tcp[2]), tcp[1]) : connect(endpoint.slice('unix:'.length));
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

async function bare(endpoint: string): Promise<number> {
  const t0 = performance.now();
  const socket = await open(endpoint);
  const ms = performance.now() - t0;
  socket.destroy();
  return ms;
}

async function proven(endpoint: string): Promise<number> {
  const t0 = performance.now();
  const link = new SocketLink(await open(endpoint), endpoint);
  await handshake(link, { machineId: 'bench-dialler', processId: process.pid, threadId: ++dialler }, { role: 'dial', secret, timeoutMs: 5000, clock: systemClock, then: () => {} });
  const ms = performance.now() - t0;
  link.close();
  return ms;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const p99 = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.99))]!;

const rows = [];
for (const kind of ['unix', 'tcp'] as const) {
  const endpoint = node.endpoints.find((e) => e.startsWith(`${kind}:`))!;
  const floor: number[] = [];
  const full: number[] = [];
  for (let i = 0; i < PER_ROUND; i++) await proven(endpoint); // warm up
  for (let r = 0; r < ROUNDS; r++) {
    for (let i = 0; i < PER_ROUND; i++) floor.push(await bare(endpoint));
    for (let i = 0; i < PER_ROUND; i++) full.push(await proven(endpoint));
  }
  rows.push({ link: kind, connect_p50_us: median(floor) * 1000, handshake_p50_us: median(full) * 1000, handshake_p99_us: p99(full) * 1000, added_us: (median(full) - median(floor)) * 1000 });
}
await node.stop();

if (json) for (const row of rows) console.log(JSON.stringify(row));
else {
  console.log(`\n${machineState()}`);
  console.log('New link between two nodes: connect, then prove the robot secret both ways (HMAC-SHA256 over fresh nonces)');
  console.log('link | connect p50 | connect + handshake p50 | p99 | added by the handshake');
  for (const r of rows) console.log(`${r.link.padEnd(4)} | ${r.connect_p50_us.toFixed(0).padStart(8)} µs | ${r.handshake_p50_us.toFixed(0).padStart(8)} µs | ${r.handshake_p99_us.toFixed(0).padStart(6)} µs | ${r.added_us.toFixed(0)} µs`);
}
