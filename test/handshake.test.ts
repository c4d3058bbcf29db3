import test from 'ava';
import { mkdtempSync } from 'node:fs';
import { createConnection, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemClock } from '../src/clock.js';
import { BadFrameError, BadMessageError, HandshakeError } from '../src/errors.js';
import { describe, MESSAGE_FIELDS, parseMessage, PROTOCOL_VERSION } from '../src/messages.js';
import { handshake, NONCE_BYTES, proofMac, type Role } from '../src/transport/handshake.js';
import { SocketLink } from '../src/transport/socket-link.js';
import { Collector, within } from './_support/wait.js';

/** Two real sockets joined through a Unix socket server made for the test. */
async function socketPair(t: { teardown(fn: () => unknown): void }): Promise<[Socket, Socket]> {
  const path = join(mkdtempSync(join(tmpdir(), 'qiact-hs-')), 'n.sock');
  let accepted!: (s: Socket) => void;
  const serverSide = new Promise<Socket>((resolve) => (accepted = resolve));
  const server = createServer((s) => accepted(s));
  await new Promise<void>((resolve) => server.listen(path, resolve));
  const client = createConnection(path);
  const host = await serverSide;
  t.teardown(() => {
    client.destroy();
    host.destroy();
    server.close();
  });
  return [client, host];
}

const identity = (machineId: string) => ({ machineId, processId: process.pid, threadId: 0 });
const SECRET = Buffer.from('the robot secret, shared by its nodes');
const options = (role: Role, then: (m: unknown) => void = () => {}, secret = SECRET) => ({ role, secret, timeoutMs: 2000, clock: systemClock, then, refuseDelayMs: 50 });

/** A raw socket end that records every message the other side sends. */
function recorder(socket: Socket, peer: string): { link: SocketLink; seen: Collector<Record<string, unknown>> } {
  const link = new SocketLink(socket, peer);
  const seen = new Collector<Record<string, unknown>>();
  link.onMessage = (m) => seen.push(m as Record<string, unknown>);
  return { link, seen };
}

test('two nodes holding the same secret prove it to each other and learn who is at the other end; messages right behind the proof are not lost', async (t) => {
  const [a, b] = await socketPair(t);
  const left = new SocketLink(a, 'right');
  const right = new SocketLink(b, 'left');
  const afterLeft = new Collector<unknown>();
  const [seenByLeft, seenByRight] = await Promise.all([
    handshake(left, identity('head'), options('dial', afterLeft.push)),
    handshake(right, identity('body'), options('accept')).then((peer) => {
      right.send({ kind: 'post', to: 'head/1/0/1', from: 'body/1/0/1', method: 'ping', args: [] });
      return peer;
    }),
  ]);
  t.deepEqual(seenByLeft, identity('body'));
  t.deepEqual(seenByRight, identity('head'));
  t.deepEqual(await afterLeft.count(1), [{ kind: 'post', to: 'head/1/0/1', from: 'body/1/0/1', method: 'ping', args: [] }]);
});

test('a peer without the secret is refused after a delay, and learns nothing of the node it reached but a nonce', async (t) => {
  const [a, b] = await socketPair(t);
  const { link: stranger, seen } = recorder(a, 'node');
  const node = new SocketLink(b, 'stranger');
  const refused = handshake(node, identity('head'), options('accept'));
  // The stranger plays the protocol to the letter with a guessed secret.
  const theirs = await seen.count(1, "the node's hello");
  const nonce = Buffer.alloc(NONCE_BYTES, 7);
  stranger.send({ kind: 'hello', version: PROTOCOL_VERSION, nonce });
  stranger.send({ kind: 'proof', ...identity('intruder'), mac: proofMac(Buffer.from('a guess of the robot secret'), 'dial', identity('intruder'), theirs[0]!.nonce as Uint8Array, nonce) });
  const startedAt = performance.now();
  const error = await t.throwsAsync(refused, { instanceOf: HandshakeError });
  t.is(error.reason, 'secret');
  t.true(performance.now() - startedAt >= 40, 'not at once');
  await within(stranger.closed, 'the stranger to be cut off');
  t.is(seen.values.length, 1, 'one message only');
  t.deepEqual(Object.keys(seen.values[0]!).sort(), ['kind', 'nonce', 'records', 'slices', 'version'], 'no name, no address');
});

test('a recorded handshake cannot be replayed, and a proof cannot be reflected back to the node that made it', async (t) => {
  // Record a good dialler's messages.
  const [a, b] = await socketPair(t);
  const { link: tap, seen: recorded } = recorder(b, 'dialler');
  const dialler = handshake(new SocketLink(a, 'acceptor'), identity('head'), options('dial'));
  await recorded.count(1, 'the hello');
  tap.send({ kind: 'hello', version: PROTOCOL_VERSION, nonce: Buffer.alloc(NONCE_BYTES, 1) });
  await recorded.count(2, 'the proof');
  tap.close();
  await t.throwsAsync(dialler);
  // Replayed to a real acceptor: its fresh nonce makes the old proof wrong.
  const [c, d] = await socketPair(t);
  const { link: replay } = recorder(c, 'acceptor');
  const acceptor = handshake(new SocketLink(d, 'replayer'), identity('body'), options('accept'));
  for (const m of recorded.values) replay.send(m);
  t.is((await t.throwsAsync(acceptor, { instanceOf: HandshakeError }))?.reason, 'secret');

  // A fake acceptor that sends the dialler's own hello and proof back.
  const [e, f] = await socketPair(t);
  const { link: mirror, seen: sent } = recorder(f, 'dialler');
  const fooled = handshake(new SocketLink(e, 'mirror'), identity('head'), options('dial'));
  const [hello] = await sent.count(1, 'the hello');
  mirror.send({ ...hello, nonce: Buffer.alloc(NONCE_BYTES, 2) });
  const [, proof] = await sent.count(2, 'the proof');
  mirror.send(proof);
  t.is((await t.throwsAsync(fooled, { instanceOf: HandshakeError }))?.reason, 'secret', 'a dialler proof is not an acceptor proof');
});

test('a peer that says nothing is cut off at the handshake timeout', async (t) => {
  const [a] = await socketPair(t);
  const link = new SocketLink(a, 'mute');
  const error = await t.throwsAsync(handshake(link, identity('head'), { ...options('accept'), timeoutMs: 50 }), { instanceOf: HandshakeError });
  t.is(error.reason, 'timeout');
  t.true((await within(link.closed, 'the link to close')) instanceof HandshakeError);
});

test('a wrong version, a first message that is not hello, or a message out of turn is refused with a typed reason', async (t) => {
  const [a, b] = await socketPair(t);
  const link = new SocketLink(a, 'old-peer');
  const peer = new SocketLink(b, 'us');
  peer.send({ kind: 'hello', version: 1, machineId: 'past', processId: 1, threadId: 0 });
  const version = await t.throwsAsync(handshake(link, identity('head'), options('accept')), { instanceOf: HandshakeError });
  t.is(version.reason, 'version');
  t.regex(version.message, new RegExp(`version 1, this node ${PROTOCOL_VERSION}`));

  const [c, d] = await socketPair(t);
  const link2 = new SocketLink(c, 'rude-peer');
  new SocketLink(d, 'us').send({ kind: 'call', id: 1, to: 'x/1/0/1', from: 'y/1/0/1', method: 'm', args: [] });
  const notHello = await t.throwsAsync(handshake(link2, identity('head'), options('accept')), { instanceOf: HandshakeError });
  t.is(notHello.reason, 'not-hello');

  const [e, f] = await socketPair(t);
  const link3 = new SocketLink(e, 'hasty-peer');
  const hasty = new SocketLink(f, 'us');
  hasty.send({ kind: 'hello', version: PROTOCOL_VERSION, nonce: Buffer.alloc(NONCE_BYTES, 3) });
  hasty.send({ kind: 'call', id: 1, to: 'x/1/0/1', from: 'y/1/0/1', method: 'm', args: [], timeout: 1 });
  t.is((await t.throwsAsync(handshake(link3, identity('head'), options('accept')), { instanceOf: HandshakeError }))?.reason, 'protocol');

  const [g, h] = await socketPair(t);
  const link4 = new SocketLink(g, 'confused-peer');
  new SocketLink(h, 'us').send({ kind: 'hello', version: PROTOCOL_VERSION, nonce: Buffer.alloc(NONCE_BYTES, 4), slices: -1 });
  const slices = await t.throwsAsync(handshake(link4, identity('head'), options('accept')), { instanceOf: HandshakeError });
  t.is(slices?.reason, 'protocol');
  t.regex(slices!.message, /slices must be a whole number/);

  const [i, j] = await socketPair(t);
  const link5 = new SocketLink(i, 'confused-peer');
  new SocketLink(j, 'us').send({ kind: 'hello', version: PROTOCOL_VERSION, nonce: Buffer.alloc(NONCE_BYTES, 5), records: 'yes' });
  const records = await t.throwsAsync(handshake(link5, identity('head'), options('accept')), { instanceOf: HandshakeError });
  t.is(records?.reason, 'protocol');
  t.regex(records!.message, /records must be true or false/);
});

test('every message kind parses; a wrong field or an unknown kind is refused naming it', (t) => {
  const samples: Record<string, unknown> = {
    hello: { version: PROTOCOL_VERSION, nonce: new Uint8Array(32) },
    proof: { machineId: 'm', processId: 1, threadId: 0, mac: new Uint8Array(32) },
    call: { id: 1, to: 'a', from: 'b', method: 'm', args: [], timeout: 30000 },
    reply: { id: 1, value: null },
    fail: { id: 1, error: { code: 'TIMEOUT', name: 'CallTimeoutError', message: 'x' } },
    post: { to: 'a', from: 'b', method: 'm', args: [1] },
    subscribe: { id: 2, to: 'a', from: 'b', member: 'changed', sub: 3 },
    unsubscribe: { to: 'a', sub: 3 },
    signal: { sub: 3, value: 42 },
    ended: { sub: 3, reason: 'service stopped' },
    monitor: { ref: 4, target: 'a', from: 'b' },
    demonitor: { ref: 4, target: 'a' },
    down: { ref: 4, target: 'a', reason: 'killed' },
    link: { target: 'a', from: 'b' },
  };
  t.deepEqual(Object.keys(samples).sort(), Object.keys(MESSAGE_FIELDS).sort());
  for (const [kind, fields] of Object.entries(samples)) {
    const message = parseMessage({ kind, ...(fields as object) });
    t.is(message.kind as string, kind);
    t.true(describe(message).startsWith(kind), describe(message));
    t.true(describe(message).length > kind.length, 'names what the message is about');
  }
  t.throws(() => parseMessage({ kind: 'call', id: -1, to: 'a', from: 'b', method: 'm', args: [], timeout: 1 }), { instanceOf: BadMessageError, message: /bad 'call' message: id must be a whole number/ });
  t.throws(() => parseMessage({ kind: 'post', to: 'a', from: 'b', method: 'm', args: 'no' }), { instanceOf: BadMessageError, message: /args must be an array/ });
  const unknown = t.throws(() => parseMessage({ kind: 'teleport' }), { instanceOf: BadMessageError });
  t.is(unknown?.field, 'kind');
  t.throws(() => parseMessage([1, 2]), { instanceOf: BadMessageError });
  t.throws(() => parseMessage({ kind: 'toString' }), { instanceOf: BadMessageError }, 'inherited names are not kinds');
});

test('two nodes that both offer records send them: every message decodes as sent, past the 256 record numbers, after an encode that failed half-way or a message the peer would not take, and around a payload in slices; a peer that does not offer them gets plain maps', async (t) => {
  const [a, b] = await socketPair(t);
  const left = new SocketLink(a, 'right');
  const right = new SocketLink(b, 'left');
  const got = new Collector<unknown>();
  await Promise.all([handshake(left, identity('head'), options('dial')), handshake(right, identity('body'), options('accept', got.push))]);
  const post = (to: number, value: unknown) => ({ kind: 'post', to: `body/1/0/${to}`, from: 'head/1/0/1', method: 'take', args: [value] });

  // The acceptor's first records: an object of the very shape of its proof, which went as a plain map.
  const fromRight = new Collector<unknown>();
  left.onMessage = fromRight.push;
  right.send(post(1, { kind: 'proof', machineId: 'x', processId: 1, threadId: 0, mac: 'none' }));
  t.deepEqual(await fromRight.count(1), [post(1, { kind: 'proof', machineId: 'x', processId: 1, threadId: 0, mac: 'none' })]);

  // The keys of a shape go once: the second message of a shape is shorter than the first.
  const sizes = [0, 0].map(() => {
    const before = left.traffic.bytesOut;
    left.send(post(2, { alpha: 1, beta: 2, gamma: 3 }));
    return left.traffic.bytesOut - before;
  });
  t.true(sizes[1]! < sizes[0]!, `${sizes[1]} bytes after ${sizes[0]}`);

  const sent: unknown[] = [post(2, { alpha: 1, beta: 2, gamma: 3 }), post(2, { alpha: 1, beta: 2, gamma: 3 })];
  const send = (m: unknown) => {
    left.send(m, 'head/1/0/1', (m as { to: string }).to);
    sent.push(m);
  };
  for (let i = 0; i < 600; i++) send(post(2, { [`key${i}`]: i, nested: { [`inner${i % 300}`]: [i] } }));
  // A shape whose encode fails half-way (a function cannot be sent), then the same shape that can.
  t.throws(() => left.send(post(2, { pose: { x: 1, y: 2 }, hook: () => {} })));
  send(post(2, { pose: { x: 1, y: 2 }, hook: 'none' }));
  // A payload in slices, then small messages of new shapes: to the same actor (they wait behind it), and to another (they pass).
  const frame = new Uint8Array(1024 * 1024).map((_, i) => i % 251);
  send(post(3, { image: frame, seq: 1 }));
  for (let i = 0; i < 20; i++) send(post(i % 2 === 0 ? 3 : 4, { [`late${i}`]: i, stamp: { sec: i } }));

  const received = await got.count(sent.length, 'every message');
  const plain = (m: unknown) => JSON.parse(JSON.stringify(m, (_k, v: unknown) => (v instanceof Uint8Array ? `bytes:${v.length}:${v.reduce((s, x) => (s + x) % 65521, 0)}` : v)));
  const byOrder = (list: unknown[]) => list.map(plain).sort((x, y) => JSON.stringify(x).localeCompare(JSON.stringify(y)));
  t.deepEqual(byOrder(received), byOrder(sent));
  // What one actor was sent arrives in the order sent.
  const toThree = (list: unknown[]) => list.filter((m) => (m as { to: string }).to.endsWith('/3')).map(plain);
  t.deepEqual(toThree(received), toThree(sent));

  // A message over what the peer takes (its `slices`), of a new shape: refused, and the shape is defined again after.
  const [e, f] = await socketPair(t);
  const sender = new SocketLink(e, 'small');
  const small = new SocketLink(f, 'big', { maxFrame: 4096 });
  const taken = new Collector<unknown>();
  await Promise.all([handshake(sender, identity('head'), options('dial')), handshake(small, identity('body'), options('accept', taken.push))]);
  t.throws(() => sender.send(post(2, { reading: 'x'.repeat(5000), unit: 'lux' })), { instanceOf: BadFrameError });
  sender.send(post(2, { reading: 'dim', unit: 'lux' }));
  t.deepEqual(await taken.count(1), [post(2, { reading: 'dim', unit: 'lux' })]);

  // A peer that does not offer records: plain maps, the same size each time.
  const [c, d] = await socketPair(t);
  const speaker = new SocketLink(c, 'old');
  const old = new SocketLink(d, 'new');
  Object.defineProperty(old, 'recordsOffer', { value: false });
  const heard = new Collector<unknown>();
  await Promise.all([handshake(speaker, identity('head'), options('dial')), handshake(old, identity('body'), options('accept', heard.push))]);
  const plainSizes = [0, 0].map(() => {
    const before = speaker.traffic.bytesOut;
    speaker.send(post(2, { alpha: 1, beta: 2, gamma: 3 }));
    return speaker.traffic.bytesOut - before;
  });
  t.is(plainSizes[0], plainSizes[1]);
  t.deepEqual(await heard.count(2), [post(2, { alpha: 1, beta: 2, gamma: 3 }), post(2, { alpha: 1, beta: 2, gamma: 3 })]);
});
