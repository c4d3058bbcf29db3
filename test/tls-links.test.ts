import test from 'ava';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { routeOf, start, UnreachableError, type Node } from '../src/index.js';
import { Counter } from './fixtures/services.js';
import { makeCerts } from './_support/certs.js';
import { deferred, within } from './_support/wait.js';

// The robot's CA signed a certificate for each computer (openssl, made for this run); both ends
// of a tls: link show theirs, and the secret's handshake runs inside.
const certs = makeCerts();
const headTls = { ...certs.server, ca: certs.ca };
const armTls = { ...certs.alice, ca: certs.ca };

async function head(t: { teardown(fn: () => unknown): void }): Promise<{ node: Node; tls: string }> {
  const node = await start({ machineId: 'tls-head', listen: ['tls:127.0.0.1:0'], tls: headTls, onWarning: () => {} });
  t.teardown(() => node.stop());
  await node.spawn(Counter, { name: 'head-counter' });
  return { node, tls: node.endpoints.find((e) => e.startsWith('tls:'))! };
}

test('computers of the robot talk over mutual TLS when they have certificates: tls: endpoints are dialled first, and calls cross both ways', async (t) => {
  const { node, tls } = await head(t);
  const arm = await start({ machineId: 'tls-arm', directory: tls, listen: ['tcp:127.0.0.1:0', 'tls:127.0.0.1:0'], tls: armTls, onWarning: () => {} });
  t.teardown(() => arm.stop());
  await arm.spawn(Counter, { name: 'arm-counter' });
  const fromHead = await node.service<Counter>('arm-counter');
  t.is(await fromHead.add(2), 2);
  t.is(routeOf(fromHead).path, 'tls', 'over the link the arm opened to the directory');
  // A third computer dials the arm afresh: of its tcp: and tls: endpoints, it picks tls:.
  const leg = await start({ machineId: 'tls-leg', directory: tls, tls: armTls, onWarning: () => {} });
  t.teardown(() => leg.stop());
  const fromLeg = await leg.service<Counter>('arm-counter');
  t.is(await fromLeg.add(3), 5);
  t.is(routeOf(fromLeg).path, 'tls');
  t.is(await fromLeg.ask('head-counter', 4), 4, 'the arm calls the head back by name');
  // A payload in slices, each way over each link: the end that dialed reads its socket into the
  // thread's one buffer (decrypted there by TLS), the end that accepted reads as Node gives.
  const frame = Buffer.from(Array.from({ length: 1024 * 1024 + 5 }, (_, i) => (i * 31) & 0xff));
  for (const counter of [fromHead, fromLeg]) {
    const [back, sum] = await Promise.all([counter.echo(frame), counter.add(0)]);
    t.true(Buffer.from(back as Uint8Array).equals(frame), 'intact both ways');
    t.is(typeof sum, 'number');
  }
});

/** A TLS client at a `tls:` endpoint, with `options`; resolves to why it ended (it is expected to be refused). */
function refusedAt(tls: string, options: object): Promise<string> {
  const [host, port] = tls.slice('tls:'.length).split(':') as [string, string];
  return new Promise((resolve) => {
    const socket = tlsConnect({ host, port: Number(port), ca: certs.ca, checkServerIdentity: () => undefined, ...options });
    socket.on('error', (error) => resolve(error.message));
    socket.on('close', () => resolve('closed'));
    socket.on('data', () => {});
  });
}

test('without a certificate from the robot CA nothing gets past TLS: no certificate, a stranger one, or a node with none', async (t) => {
  const { tls } = await head(t);
  const refused = (options: object): Promise<string> => refusedAt(tls, options);
  t.regex(await within(refused({}), 'a client without a certificate to be refused'), /certificate|closed|alert|reset/i);
  t.regex(await within(refused({ cert: certs.stranger.cert, key: certs.stranger.key }), 'a stranger certificate to be refused'), /certificate|closed|alert|unknown ca|reset/i);
  // A node without a certificate cannot join through a tls: endpoint, and says why.
  const error = await t.throwsAsync(start({ machineId: 'no-cert', directory: tls, directoryWait: 0, onWarning: () => {} }), { instanceOf: UnreachableError });
  t.regex(error!.message, /needs this node's certificate/);
  await t.throwsAsync(start({ machineId: 'bad-listen', listen: ['tls:127.0.0.1:0'], onWarning: () => {} }), { message: /a tls: endpoint needs the node's certificate/ });
});

test('a tls: listener counts connections still in their TLS handshake among the 64 proving themselves: past them strangers are closed at once, and each one gives its place back', async (t) => {
  const warnings: string[] = [];
  // A long handshake timeout, so that a connection closed now was refused, not timed out.
  const node = await start({ machineId: 'tls-door', listen: ['tls:127.0.0.1:0'], tls: headTls, handshakeTimeout: 60_000, onWarning: (m) => warnings.push(m) });
  t.teardown(() => node.stop());
  await node.spawn(Counter, { name: 'door-counter' });
  const tls = node.endpoints.find((e) => e.startsWith('tls:'))!;
  const [host, port] = tls.slice('tls:'.length).split(':') as [string, string];

  // More refused TLS handshakes than there are places, one after another: each gives its place back.
  for (let i = 0; i < 35; i++) await within(refusedAt(tls, { cert: certs.stranger.cert, key: certs.stranger.key }), 'a stranger certificate to be refused');
  for (let i = 0; i < 35; i++) await within(refusedAt(tls, {}), 'a client without a certificate to be refused');

  // 100 connections that never start TLS: 64 take the places, the other 36 are closed at once.
  const silent = await Promise.all(
    Array.from({ length: 100 }, async () => {
      const socket = netConnect(Number(port), host);
      socket.on('error', () => {});
      const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      await new Promise((resolve) => socket.once('connect', resolve));
      return { socket, closed };
    }),
  );
  let dropped = 0;
  const enough = deferred();
  for (const s of silent) void s.closed.then(() => ++dropped >= 100 - 64 && enough.resolve());
  await within(enough.promise, 'the connections past the 64 in their TLS handshake to be closed at once');
  t.true(
    warnings.some((w) => w.includes(`refusing connections on ${tls}: 64 are still proving themselves`)),
    warnings.join('\n'),
  );

  // They hang up: their places come back, and a computer of the robot comes in through the door.
  for (const s of silent) s.socket.destroy();
  const arm = await start({ machineId: 'tls-door-arm', directory: tls, tls: armTls, directoryWait: 10_000, onWarning: () => {} });
  t.teardown(() => arm.stop());
  const counter = await arm.service<Counter>('door-counter');
  t.is(await counter.add(1), 1);
  t.is(routeOf(counter).path, 'tls');
});
