import test, { type ExecutionContext } from 'ava';
import { random } from './_support/seeded.js';
import { connect, createServer, type Socket } from 'node:net';
import { createCodec } from '../src/codec/cbor.js';
import { encodeFrame, frameHeader } from '../src/codec/frames.js';
import { DIRECTORY_NAME, ManualClock, UnreachableError, start, type ServiceDirectory } from '../src/index.js';
import { Counter, MODULE } from './fixtures/services.js';
import { Collector, within } from './_support/wait.js';
import { systemClock } from '../src/clock.js';
import { PROTOCOL_VERSION } from '../src/messages.js';
import { robotSecret } from '../src/robot-secret.js';
import { handshake, NONCE_BYTES } from '../src/transport/handshake.js';
import { SocketLink } from '../src/transport/socket-link.js';

/** Opens a raw socket to a node's Unix endpoint; resolves `closed` when the node drops it. */
async function rawPeer(endpoint: string): Promise<{ socket: Socket; closed: Promise<void> }> {
  const socket = connect(endpoint.slice('unix:'.length));
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.on('error', () => {});
  socket.resume(); // read (and drop) what the node sends, so its hang-up is seen
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return { socket, closed };
}

/** A node of the robot, by the book (it holds the secret), as far as the handshake; raw bytes after. */
const INTRUDER = { machineId: 'intruder', processId: 1, threadId: 0 };
async function provenPeer(endpoint: string): Promise<{ socket: Socket; closed: Promise<void> }> {
  const tcp = /^tcp:(.+):(\d+)$/.exec(endpoint);
  const socket = tcp ? connect(Number(tcp[2]), tcp[1]) : connect(endpoint.slice('unix:'.length));
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await handshake(new SocketLink(socket, 'node'), INTRUDER, { role: 'dial', secret: robotSecret(), timeoutMs: 5000, clock: systemClock, then: () => {} });
  return { socket, closed };
}

const codec = createCodec();
const frame = (message: unknown): Buffer => encodeFrame(codec.encode(message));
const hello = (version = PROTOCOL_VERSION) => frame({ kind: 'hello', version, nonce: Buffer.alloc(NONCE_BYTES, 9) });

test('bad input on one connection closes that connection only, with a logged typed reason; calls on other links go on', async (t) => {
  const warnings = new Collector<string>();
  const node = await start({ machineId: 'bad-input', handshakeTimeout: 300, onWarning: (message) => warnings.push(message) });
  t.teardown(() => node.stop());
  await node.spawn(Counter, { name: 'there', in: 'process', module: MODULE });
  const there = await node.service<Counter>('there');
  const unix = node.endpoints.find((e) => e.startsWith('unix:'))!;

  // Calls to the child process are in flight over its own link during the whole attack.
  const inFlight = Array.from({ length: 200 }, () => there.add(1));

  const stranger = rawPeer;
  const attacks: [string, typeof rawPeer, (s: Socket) => void, RegExp][] = [
    ['garbage bytes', stranger, (s) => s.write(Buffer.from('GET / HTTP/1.1\r\nHost: robot\r\n\r\n')), /bad frame|not-hello|undecodable|too-large/],
    ['an oversized length prefix', stranger, (s) => s.write(frameHeader(0xfffffff0)), /too-large/],
    ['a frame over 4 KiB before proving anything', stranger, (s) => s.write(Buffer.concat([hello(), frameHeader(5000), Buffer.alloc(5000)])), /too-large.*4096/],
    ['a wrong protocol version', stranger, (s) => s.write(hello(99)), /\(version\).*version 99/],
    ['a first message that is not hello', stranger, (s) => s.write(frame({ kind: 'call', id: 1, to: 'x/1/0/1', from: 'y/1/0/1', method: 'm', args: [], timeout: 1 })), /not-hello/],
    ['a proof made without the secret', stranger, (s) => s.write(Buffer.concat([hello(), frame({ kind: 'proof', ...INTRUDER, mac: Buffer.alloc(32) })])), /\(secret\)/],
    ['a truncated frame, then hanging up', stranger, (s) => s.end(Buffer.concat([hello(), frameHeader(100), Buffer.alloc(10)])), /truncated/],
    ['a peer that connects and says nothing', stranger, () => {}, /\(timeout\)/],
    ['an unknown message kind after a good handshake', provenPeer, (s) => s.write(frame({ kind: 'teleport' })), /bad 'teleport' message: kind is unknown/],
    ['a message with a wrong field after a good handshake', provenPeer, (s) => s.write(frame({ kind: 'post', to: 1, from: 'y', method: 'm', args: [] })), /bad 'post' message: to must be a string/],
    ['a call that names a sender of another node', provenPeer, (s) => s.write(frame({ kind: 'call', id: 1, to: 'x/1/0/1', from: 'bad-input/1/0/1', method: 'm', args: [], timeout: 100 })), /from names 'bad-input\/1\/0\/1', not an actor of intruder\/1\/0/],
    ['a link that names a sender of another node', provenPeer, (s) => s.write(frame({ kind: 'link', target: 'x/1/0/1', from: 'x/1/0/1' })), /bad 'link' message: from names/],
    ['a second hello after the handshake', provenPeer, (s) => s.write(hello()), /hello.*came again/],
  ];
  for (const [what, open, attack, reason] of attacks) {
    const before = warnings.values.length;
    const peer = await open(unix);
    attack(peer.socket);
    await within(peer.closed, `the node to close the connection that sent ${what}`);
    const logged = await within(
      warnings.count(before + 1).then((all) => all.slice(before).join('\n')),
      `a warning about ${what}`,
    );
    t.regex(logged, reason, what);
  }

  t.deepEqual((await Promise.all(inFlight)).sort((a, b) => a - b), Array.from({ length: 200 }, (_, i) => i + 1), 'no call on the other link was lost');
  t.is(await there.add(1), 201, 'and the node goes on');
});

test('a node that is down is not dialled again by every call: calls fail at once while the dial backs off, then it is dialled again', async (t) => {
  // A "node" whose endpoint accepts and hangs up at once: every dial to it fails.
  let dials = 0;
  const server = createServer((socket) => {
    dials++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const { port } = server.address() as { port: number };
  const clock = new ManualClock();
  const node = await start({ machineId: 'dialler', clock, onWarning: () => {} });
  t.teardown(() => node.stop());
  const directory = await node.service<ServiceDirectory>(DIRECTORY_NAME);
  // (Registered afresh each time: the directory drops a node's services when a link to it fails.)
  let id = 0;
  const ghost = async (): Promise<unknown> => {
    await directory.unregister(id).catch(() => {});
    id = await directory.register({ name: 'ghost', machineId: 'elsewhere', processId: 4242, endpoints: [`tcp:127.0.0.1:${port}`], address: 'elsewhere/4242/0/7' });
    await directory.ready(id);
    return node.service('ghost');
  };

  const first = await t.throwsAsync(ghost(), { instanceOf: UnreachableError });
  t.is(dials, 1);
  const second = await t.throwsAsync(ghost(), { instanceOf: UnreachableError });
  t.is(dials, 1, 'not dialled again while backing off');
  t.is(second.message, first.message, 'the same reason, at once');
  clock.advance(150);
  await t.throwsAsync(ghost(), { instanceOf: UnreachableError });
  t.is(dials, 2, 'dialled again once the backoff is over');
});

test('fuzzing a node listener before and after the handshake: each bad connection is closed alone, and a node calling throughout loses nothing', async (t) => {
  const warnings = new Collector<string>();
  const node = await start({ machineId: 'fuzzed', listen: ['tcp:127.0.0.1:0'], handshakeTimeout: 1000, onWarning: (message) => warnings.push(message) });
  t.teardown(() => node.stop());
  const counter = await node.spawn(Counter, { name: 'counter' });
  const tcp = node.endpoints.find((e) => e.startsWith('tcp:'))!;
  const caller = await start({ machineId: 'caller', directory: tcp, onWarning: () => {} });
  t.teardown(() => caller.stop());
  const remote = await caller.service<Counter>('counter');
  let fuzzing = true;
  const calls = (async () => {
    let n = 0;
    while (fuzzing) n = await remote.add(1);
    return n;
  })();

  const next = random(0x51ac7);
  const int = (n: number): number => Math.floor(next() * n);
  const bytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => int(256)));
  const mutate = (buffer: Buffer): Buffer => {
    const out = Buffer.from(buffer);
    for (let k = 1 + int(4); k > 0; k--) out[int(out.length)] = int(256);
    return out;
  };
  const [host, port] = tcp.slice('tcp:'.length).split(':') as [string, string];
  const open = async (): Promise<{ socket: Socket; closed: Promise<void> }> => {
    const socket = connect(Number(port), host);
    socket.on('error', () => {});
    socket.resume();
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    await new Promise((resolve) => socket.once('connect', resolve));
    return { socket, closed };
  };
  const from = (i: number): string => `fuzz-${i}/1/0/${1 + int(3)}`;
  const templates = (i: number): Record<string, unknown>[] => [
    { kind: 'call', id: int(1000), to: 'nowhere/1/0/1', from: from(i), method: 'add', args: [1], timeout: 1 + int(100) },
    { kind: 'post', to: 'nowhere/1/0/1', from: from(i), method: 'add', args: [] },
    { kind: 'subscribe', id: int(1000), to: 'nowhere/1/0/1', from: from(i), member: 'changed', sub: int(100) },
    { kind: 'unsubscribe', to: 'nowhere/1/0/1', sub: int(100) },
    { kind: 'reply', id: int(1000), value: bytes(int(64)) },
    { kind: 'fail', id: int(1000), error: { code: 'TIMEOUT', name: 'x', message: 'y' } },
    { kind: 'signal', sub: int(100), value: null },
    { kind: 'ended', sub: int(100), reason: 'z' },
    { kind: 'monitor', ref: int(100), target: 'nowhere/1/0/1', from: from(i) },
    { kind: 'demonitor', ref: int(100), target: 'nowhere/1/0/1' },
    { kind: 'down', ref: int(100), target: 'nowhere/1/0/1', reason: 'killed' },
    { kind: 'link', target: 'nowhere/1/0/1', from: from(i) },
  ];

  const connections = 160;
  for (let i = 0; i < connections; i++) {
    if (i % 2 === 0) {
      // Before the handshake: noise, a mangled hello, or a hello and a mangled proof.
      const { socket } = await open();
      const hello = frame({ kind: 'hello', version: PROTOCOL_VERSION, nonce: bytes(NONCE_BYTES) });
      const proof = frame({ kind: 'proof', machineId: `fuzz-${i}`, processId: 1, threadId: 0, mac: bytes(32) });
      const choice = int(4);
      socket.write(choice === 0 ? bytes(1 + int(8192)) : choice === 1 ? mutate(hello) : choice === 2 ? Buffer.concat([hello, mutate(proof)]) : Buffer.concat([hello, frame(templates(i)[int(12)])]));
      socket.end();
    } else {
      // After a good handshake: mangled messages, or messages with a field of the wrong type.
      const { socket } = await provenPeer(tcp);
      for (let k = 0; k < 1 + int(8); k++) {
        const message = templates(i)[int(12)]!;
        const choice = int(3);
        if (choice === 0) socket.write(mutate(frame(message)));
        else if (choice === 1) socket.write(frame({ ...message, [Object.keys(message)[1 + int(Object.keys(message).length - 1)]!]: [bytes(4)] }));
        else socket.write(frame(message));
      }
      socket.end();
    }
  }
  fuzzing = false;
  const n = await within(calls, 'the calls made during the fuzz to settle');
  t.true(n > 0, 'the other node called throughout');
  t.is(await remote.add(1), n + 1, 'no call was lost or run twice');
  t.is((await node.services()).find((s) => s.name === 'counter')?.address, counter!.address.text, 'the service was never restarted');
  t.true(warnings.values.length > 0, 'what was refused was logged');
});

/**
 * A node with a Counter, and a socket link to it from INTRUDER that has passed the handshake:
 * what the node sends back is collected in `answers`.
 */
async function counterBehindProvenLink(t: ExecutionContext, machineId: string) {
  const node = await start({ machineId, onWarning: () => {} });
  t.teardown(() => node.stop());
  const counter = (await node.spawn(Counter, { name: 'counter' }))!;
  const unix = node.endpoints.find((e) => e.startsWith('unix:'))!;
  const socket = connect(unix.slice('unix:'.length));
  await new Promise((resolve) => socket.once('connect', resolve));
  const link = new SocketLink(socket, 'node');
  const answers = new Collector<Record<string, unknown>>();
  await handshake(link, INTRUDER, { role: 'dial', secret: robotSecret(), timeoutMs: 5000, clock: systemClock, then: (m) => answers.push(m as Record<string, unknown>) });
  link.onMessage = (m) => answers.push(m as Record<string, unknown>);
  return { node, counter, socket, link, answers };
}

test('a node answers at the bounds the protocol page gives: ids up to 2^53−1 even as CBOR uint64, a call to another node\'s address "not on this node", and past 2^53 a refusal', async (t) => {
  const { node, counter, socket, link, answers } = await counterBehindProvenLink(t, 'bounds');
  const call = (id: number | bigint, to: string): void =>
    void link.send({ kind: 'call', id, to, from: 'intruder/1/0/7', method: 'add', args: [1], timeout: 5000 });
  call(2n ** 32n, counter.address.text); // cbor-x writes a bigint as a CBOR uint64, as other languages do
  call(2n ** 53n - 1n, counter.address.text);
  call(3, 'elsewhere/1/0/1');
  const byId = new Map((await answers.count(3, 'three answers')).map((m) => [m.id, m]));
  t.like(byId.get(2 ** 32), { kind: 'reply', value: 1 });
  t.like(byId.get(2 ** 53 - 1), { kind: 'reply', value: 2 });
  const third = byId.get(3);
  t.like(third, { kind: 'fail', error: { code: 'UNREACHABLE' } });
  t.regex((third!.error as { message: string }).message, /not on this node \(bounds\/\d+\/0\): a node does not forward/);
  call(2n ** 53n, counter.address.text);
  t.regex(String((await within(link.closed, 'an id past 2^53−1 to close the link'))?.message ?? 'closed'), /closed|reset|id must be a whole number/);
  t.is(await (await node.service<Counter>('counter')).add(1), 3, 'and the node goes on');
});

test('a node reads byte strings, text strings and arrays whose length is written in 8 bytes, as some CBOR libraries of other languages write them', async (t) => {
  const { node, counter, socket, link, answers } = await counterBehindProvenLink(t, 'wide-lengths');
  const bytes = Buffer.from(Array.from({ length: 300 }, (_, i) => i % 251));
  const text = 'é'.repeat(150); // 300 bytes of UTF-8
  /** A CBOR head of major type `major` whose length (or count) is written in 8 bytes (0x1b). */
  const wide = (major: number, length: number): Buffer => {
    const head = Buffer.alloc(9);
    head[0] = (major << 5) | 0x1b;
    head.writeBigUInt64BE(BigInt(length), 1);
    return head;
  };
  const utf8 = Buffer.from(text);
  for (const id of [1, 2]) { // the second through a decoder that has read the first
    // The call as a map of 6 entries (cbor-x writes its count in 2 bytes), made 7 by appending
    // `args`: [[bytes, text]], written by hand, the inner array's count in 8 bytes too.
    const rest = Buffer.from(codec.encode({ kind: 'call', id, to: counter.address.text, from: 'intruder/1/0/7', method: 'echo', timeout: 5000 }));
    t.deepEqual([rest[0], rest.readUInt16BE(1)], [0xb9, 6]);
    rest.writeUInt16BE(7, 1);
    const args = Buffer.concat([codec.encode('args'), Buffer.from([0x81]), wide(4, 2), wide(2, bytes.length), bytes, wide(3, utf8.length), utf8]);
    socket.write(encodeFrame(Buffer.concat([rest, args])));
  }
  const replies = await answers.count(2, 'two replies');
  for (const reply of replies) {
    t.like(reply, { kind: 'reply' });
    const [gotBytes, gotText] = reply.value as [Uint8Array, string];
    t.deepEqual(Buffer.from(gotBytes), bytes);
    t.is(gotText, text);
  }
});
