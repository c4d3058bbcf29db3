import test from 'ava';
import { mkdtempSync } from 'node:fs';
import { createConnection, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemClock } from '../src/clock.js';
import { BadMessageError, HandshakeError } from '../src/errors.js';
import { describe, MESSAGE_FIELDS, parseMessage, PROTOCOL_VERSION } from '../src/messages.js';
import { handshake } from '../src/transport/handshake.js';
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

test('two nodes exchange hello and learn who is at the other end; messages right behind hello are not lost', async (t) => {
  const [a, b] = await socketPair(t);
  const left = new SocketLink(a, 'right');
  const right = new SocketLink(b, 'left');
  const afterLeft = new Collector<unknown>();
  const [seenByLeft, seenByRight] = await Promise.all([
    handshake(left, identity('head'), { timeoutMs: 2000, clock: systemClock, then: afterLeft.push }),
    handshake(right, identity('body'), { timeoutMs: 2000, clock: systemClock, then: () => {} }).then((hello) => {
      right.send({ kind: 'post', to: 'head/1/0/1', from: 'body/1/0/1', method: 'ping', args: [] });
      return hello;
    }),
  ]);
  t.like(seenByLeft, { kind: 'hello', version: PROTOCOL_VERSION, machineId: 'body' });
  t.like(seenByRight, { machineId: 'head', processId: process.pid });
  t.deepEqual(await afterLeft.count(1), [{ kind: 'post', to: 'head/1/0/1', from: 'body/1/0/1', method: 'ping', args: [] }]);
});

test('a peer that says nothing is cut off at the handshake timeout', async (t) => {
  const [a] = await socketPair(t);
  const link = new SocketLink(a, 'mute');
  const error = await t.throwsAsync(handshake(link, identity('head'), { timeoutMs: 50, clock: systemClock, then: () => {} }), { instanceOf: HandshakeError });
  t.is(error.reason, 'timeout');
  t.true((await within(link.closed, 'the link to close')) instanceof HandshakeError);
});

test('a wrong version, or a first message that is not hello, is refused with a typed reason', async (t) => {
  const [a, b] = await socketPair(t);
  const link = new SocketLink(a, 'old-peer');
  const peer = new SocketLink(b, 'us');
  peer.send({ kind: 'hello', version: PROTOCOL_VERSION + 1, machineId: 'future', processId: 1, threadId: 0 });
  const version = await t.throwsAsync(handshake(link, identity('head'), { timeoutMs: 2000, clock: systemClock, then: () => {} }), { instanceOf: HandshakeError });
  t.is(version.reason, 'version');
  t.regex(version.message, /version 2, this node 1/);

  const [c, d] = await socketPair(t);
  const link2 = new SocketLink(c, 'rude-peer');
  new SocketLink(d, 'us').send({ kind: 'call', id: 1, to: 'x/1/0/1', from: 'y/1/0/1', method: 'm', args: [] });
  const notHello = await t.throwsAsync(handshake(link2, identity('head'), { timeoutMs: 2000, clock: systemClock, then: () => {} }), { instanceOf: HandshakeError });
  t.is(notHello.reason, 'not-hello');
});

test('every message kind parses; a wrong field or an unknown kind is refused naming it', (t) => {
  const samples: Record<string, unknown> = {
    hello: { version: 1, machineId: 'm', processId: 1, threadId: 0 },
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
