import test from 'ava';
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { createCodec } from '../src/codec/cbor.js';
import { encodeFrame, frameHeader } from '../src/codec/frames.js';
import { systemClock } from '../src/clock.js';
import { PROTOCOL_VERSION } from '../src/messages.js';
import { robotSecret } from '../src/robot-secret.js';
import { handshake, NONCE_BYTES, proofMac, type NodeIdentity } from '../src/transport/handshake.js';
import { SocketLink } from '../src/transport/socket-link.js';
import { Battery } from '../src/demo.js';
import {
  DIRECTORY_NAME,
  InvalidArgumentError,
  NameTakenError,
  NoSuchMethodError,
  NoSuchServiceError,
  PermissionDeniedError,
  start,
  type Node,
  type ServiceDirectory,
} from '../src/index.js';
import { cliEnv, running } from './_support/cli.js';
import { CHILD_START_MS, Collector, deferred, within } from './_support/wait.js';

// One robot per test: a standalone `qiact directory` process and a node in this process with the
// demo's battery. Each test runs alone: they measure the directory's memory.

const codec = createCodec();
const frame = (message: unknown): Buffer => encodeFrame(codec.encode(message));

interface Robot {
  directoryPid: number;
  tcp: string;
  body: Node;
  /** Name -> address of every service, and the battery's restart count, to compare afterwards. */
  snapshot(): Promise<{ services: Record<string, string>; level: number }>;
}

async function robot(t: { teardown(fn: () => unknown): void }): Promise<Robot> {
  const directory = running(t, cliEnv(), 'directory', '--listen', 'tcp:127.0.0.1:0', '--json');
  const listening = JSON.parse(await directory.line('stdout', /"listening"/, CHILD_START_MS)) as { endpoints: string[] };
  const tcp = listening.endpoints.find((e) => e.startsWith('tcp:'))!;
  const body = await start({ machineId: 'robot-body', directory: tcp, listen: ['tcp:127.0.0.1:0'], onWarning: () => {} });
  t.teardown(() => body.stop());
  await body.spawn(Battery, { name: 'battery' });
  return {
    directoryPid: directory.child.pid!,
    tcp,
    body,
    async snapshot() {
      const services = Object.fromEntries((await body.services()).map((s) => [s.name, s.address]));
      const battery = await body.service<Battery>('battery');
      return { services, level: await battery.level.get() };
    },
  };
}

/** A raw TCP connection; `closed` resolves when the other end drops it. */
async function raw(endpoint: string): Promise<{ socket: Socket; closed: Promise<void> }> {
  const [host, port] = endpoint.slice('tcp:'.length).split(':') as [string, string];
  const socket = connect(Number(port), host);
  socket.on('error', () => {});
  socket.resume(); // read what comes (a reader may take over), so that the hang-up is seen
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await new Promise((resolve) => socket.once('connect', resolve));
  return { socket, closed };
}

/** A node that holds the robot's secret, as far as the handshake, claiming `identity`; raw bytes after. */
async function proven(endpoint: string, identity: NodeIdentity): Promise<{ socket: Socket; link: SocketLink; closed: Promise<void> }> {
  const { socket, closed } = await raw(endpoint);
  const link = new SocketLink(socket, endpoint);
  await handshake(link, identity, { role: 'dial', secret: robotSecret(), timeoutMs: 5000, clock: systemClock, then: () => {} });
  return { socket, link, closed };
}

function rssOf(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'))!;
  return Number(/(\d+)/.exec(line)![1]) * 1024;
}

test.serial('strangers without the secret get nowhere: impersonation, forged links and frames before hello are refused, and the robot is unchanged', async (t) => {
  const r = await robot(t);
  const before = await r.snapshot();
  const body: NodeIdentity = { machineId: 'robot-body', processId: process.pid, threadId: 0 };

  // 1. Impersonation: say hello as the robot's live node, with a proof made without the secret.
  const imposter = await raw(r.tcp);
  const said = new Collector<unknown>();
  const listen = new SocketLink(imposter.socket, 'directory');
  listen.onMessage = said.push;
  const [theirHello] = await said.count(1, "the directory's hello");
  const nonce = randomBytes(NONCE_BYTES);
  imposter.socket.write(frame({ kind: 'hello', version: PROTOCOL_VERSION, nonce }));
  imposter.socket.write(frame({ kind: 'proof', ...body, mac: proofMac(Buffer.from('not the robot secret at all'), 'dial', body, (theirHello as { nonce: Uint8Array }).nonce, nonce) }));
  await within(imposter.closed, 'the imposter to be cut off');
  t.deepEqual(Object.keys(theirHello as object).sort(), ['kind', 'nonce', 'records', 'slices', 'version'], 'it learned no name and no address');

  // 2. A forged link and a registration before any proof.
  const forger = await raw(r.tcp);
  forger.socket.write(frame({ kind: 'hello', version: PROTOCOL_VERSION, nonce: randomBytes(NONCE_BYTES) }));
  forger.socket.write(frame({ kind: 'link', target: before.services.battery!, from: 'x/1/0/1' }));
  await within(forger.closed, 'a link before the proof to be refused');

  // 3. Frames announcing 16 MiB before hello, and more silent connections than the listener holds.
  const rssBefore = rssOf(r.directoryPid);
  const greedy = await Promise.all(Array.from({ length: 12 }, () => raw(r.tcp)));
  for (const g of greedy) g.socket.write(Buffer.concat([frameHeader(16 * 1024 * 1024), randomBytes(64 * 1024)]));
  await within(Promise.all(greedy.map((g) => g.closed)), 'every greedy connection to be cut off at the 4 KiB limit');
  const silent = await Promise.all(Array.from({ length: 200 }, () => raw(r.tcp)));
  let dropped = 0;
  const enough = deferred();
  for (const s of silent) void s.closed.then(() => ++dropped >= 200 - 64 && enough.resolve());
  await within(enough.promise, 'connections past the 64 still proving themselves to be closed at once');
  const grown = rssOf(r.directoryPid) - rssBefore;
  t.true(grown < 24 * 1024 * 1024, `the directory grew ${(grown / 1048576).toFixed(1)} MiB for 212 strangers`);
  await within(Promise.all(silent.map((s) => s.closed)), 'the silent ones to be cut off at the handshake deadline', 15_000);

  // The robot is as it was: same services at the same addresses, nothing restarted, still callable.
  t.deepEqual(await r.snapshot(), before);
  const battery = await r.body.service<Battery>('battery');
  t.is(await battery.drain(10), 90);
});

test.serial('a node of the robot that misbehaves touches only its own: the directory refuses bad arguments without crashing, and other nodes\' registrations', async (t) => {
  const r = await robot(t);
  const before = await r.snapshot();
  const mallory = await start({ machineId: 'mallory', directory: r.tcp, onWarning: () => {} });
  t.teardown(() => mallory.stop());
  const directory = await mallory.service<ServiceDirectory>(DIRECTORY_NAME);
  const battery = await directory.lookup('battery');

  // Arguments that once threw TypeErrors inside the directory (five of them took it down for good).
  const nasty = { toString: 1, valueOf: 1 } as never;
  for (let i = 0; i < 6; i++) await t.throwsAsync(directory.lookup(nasty), { instanceOf: InvalidArgumentError });
  await t.throwsAsync(directory.register(nasty), { instanceOf: InvalidArgumentError });
  await t.throwsAsync(directory.register({ name: nasty, address: 'mallory/1/0/1' } as never), { instanceOf: InvalidArgumentError });
  await t.throwsAsync(directory.ready(nasty), { instanceOf: InvalidArgumentError });
  await t.throwsAsync(directory.unregister('1' as never), { instanceOf: InvalidArgumentError });
  await t.throwsAsync(directory.updateInfo(battery.serviceId, nasty), { instanceOf: PermissionDeniedError });

  // Hijacking a name: another node's address, a name held by another node, its id, the purge.
  const self = `mallory/${process.pid}/0`;
  const evil = await t.throwsAsync(directory.register({ name: 'battery2', machineId: 'evil', processId: 1, endpoints: ['tcp:127.0.0.1:1'], address: 'evil/1/0/1' }), { instanceOf: PermissionDeniedError });
  t.regex(evil!.message, /node mallory\/\d+\/0 may not use ServiceDirectory\.register/);
  await t.throwsAsync(directory.register({ name: 'battery', machineId: 'mallory', processId: process.pid, endpoints: ['tcp:127.0.0.1:1'], address: `${self}/9` }), { instanceOf: NameTakenError });
  await t.throwsAsync(directory.unregister(battery.serviceId), { instanceOf: PermissionDeniedError });
  // A list of ids, as a node sends what it released in one turn: another's id spoils the list, a list too long is refused.
  await t.throwsAsync(directory.unregister([battery.serviceId]), { instanceOf: PermissionDeniedError });
  await t.throwsAsync(directory.unregister(Array.from({ length: 4097 }, (_, i) => i + 1)), { instanceOf: InvalidArgumentError, message: /at most 4096/ });
  await t.throwsAsync(directory.ready(battery.serviceId), { instanceOf: PermissionDeniedError });
  await t.throwsAsync(directory.updateInfo(battery.serviceId, { endpoints: ['tcp:127.0.0.1:1'] }), { instanceOf: PermissionDeniedError });
  await t.throwsAsync((directory as unknown as { linkClosed(n: number): Promise<number> }).linkClosed(1), { instanceOf: PermissionDeniedError });
  await t.throwsAsync((directory as unknown as { removeNode(n: string): Promise<number> }).removeNode(`robot-body/${process.pid}/0`), { instanceOf: NoSuchMethodError });
  // Its own registrations are its to make.
  const own = await directory.register({ name: 'mallory-tool', machineId: 'mallory', processId: process.pid, endpoints: [], address: `${self}/42` });
  await directory.ready(own);
  await directory.unregister([own, 999_999]); // an id no longer held is passed over
  await t.throwsAsync(directory.lookup('mallory-tool'), { instanceOf: NoSuchServiceError });

  // A second link that claims the robot's live node (it holds the secret), then hangs up: the
  // services registered over the first link stay.
  const twin = await proven(r.tcp, { machineId: 'robot-body', processId: process.pid, threadId: 0 });
  twin.link.close();
  await within(twin.closed, 'the twin to hang up');
  // A forged sender on a proven link closes that link only.
  const forger = await proven(r.tcp, { machineId: 'forger', processId: 1, threadId: 0 });
  forger.socket.write(frame({ kind: 'link', target: before.services.battery!, from: `robot-body/${process.pid}/0/1` }));
  await within(forger.closed, 'a link naming another node as sender to close that link');

  t.deepEqual(await r.snapshot(), before, 'same services at the same addresses, nothing restarted');
  t.is((await directory.lookup(DIRECTORY_NAME)).address, before.services[DIRECTORY_NAME]!, 'the directory did not restart');
  const handle = await mallory.service<Battery>('battery');
  t.is(await handle.drain(5), 95, 'the name still leads to the real battery');
});

test.serial('a node whose root supervisor gives up exits with code 3 and says why, so that a process manager restarts it', async (t) => {
  const child = fork(fileURLToPath(new URL('./fixtures/goes-down.ts', import.meta.url)), [], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  t.teardown(() => child.kill('SIGKILL'));
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.is(await within(exited, 'the node to go down and exit', CHILD_START_MS), 3);
  t.regex(stderr, /qiact: node goes-down\/\d+\/0\/0 is down: its root supervisor gave up .*; exiting with code 3/);
});
