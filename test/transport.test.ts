import test from 'ava';
import { mkdtempSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeFrame } from '../src/codec/frames.js';
import { BadFrameError, SlowPeerError } from '../src/errors.js';
import { SocketLink } from '../src/transport/socket-link.js';
import { adoptAccepted } from '../src/transport/shared-reads.js';
import { Collector, deferred, within } from './_support/wait.js';

/** A Unix socket server in a fresh temp folder; `accept()` gives the next server-side socket. */
async function unixServer(t: { teardown(fn: () => unknown): void }) {
  const path = join(mkdtempSync(join(tmpdir(), 'qiact-link-')), 'node.sock');
  const accepted: Socket[] = [];
  const all: Socket[] = [];
  const waiting: ((s: Socket) => void)[] = [];
  const server: Server = createServer((socket) => {
    all.push(socket);
    accepted.push(socket);
    drain();
  });
  const drain = () => {
    while (accepted.length && waiting.length) waiting.shift()!(accepted.shift()!);
  };
  await new Promise<void>((resolve) => server.listen(path, resolve));
  t.teardown(() => {
    for (const socket of all) socket.destroy();
    server.close();
  });
  const accept = () =>
    new Promise<Socket>((resolve) => {
      waiting.push(resolve);
      drain();
    });
  const dial = async () => {
    const socket = createConnection(path);
    await new Promise((resolve) => socket.once('connect', resolve));
    t.teardown(() => socket.destroy());
    return socket;
  };
  return { path, accept, dial };
}

async function linkPair(t: { teardown(fn: () => unknown): void }, options = {}) {
  const server = await unixServer(t);
  const accepted = server.accept();
  const client = new SocketLink(await server.dial(), `unix:${server.path}`, options);
  const host = new SocketLink(await accepted, 'unix:client', options);
  return { server, client, host };
}

test('messages cross a Unix socket link in order, both ways, batched per turn', async (t) => {
  const { client, host } = await linkPair(t);
  const atHost = new Collector<unknown>();
  const atClient = new Collector<unknown>();
  host.onMessage = atHost.push;
  client.onMessage = atClient.push;
  const sent = Array.from({ length: 10_000 }, (_, i) => ({ kind: 'post', seq: i, args: [`m${i}`] }));
  for (const m of sent) t.true(client.send(m));
  host.send({ kind: 'reply', id: 1, value: [1, 'two', { three: 3 }] });
  t.deepEqual(await atHost.count(sent.length), sent);
  t.deepEqual(await atClient.count(1), [{ kind: 'reply', id: 1, value: [1, 'two', { three: 3 }] }]);
});

test('a connection accepted paused and read into the shared buffer loses nothing sent before, keeps its address, and lets its server close once it is gone', async (t) => {
  const adopted = deferred<Socket>();
  const server = createServer({ pauseOnConnect: true }, (socket) => adopted.resolve(adoptAccepted(socket)));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const dialed = createConnection(port, '127.0.0.1');
  t.teardown(() => dialed.destroy());
  await new Promise((resolve) => dialed.once('connect', resolve));
  // Written before the server side reads anything: it waits in the kernel for the adopted socket.
  const large = Buffer.alloc(3 * 1024 * 1024 + 17, 5);
  const client = new SocketLink(dialed, 'tcp:server');
  const sent = [{ kind: 'post', seq: 0 }, { kind: 'post', seq: 1, args: [large] }, { kind: 'post', seq: 2 }];
  for (const m of sent) t.true(client.send(m));
  const socket = await within(adopted.promise, 'the accepted connection');
  t.is(socket.remotePort, dialed.localPort);
  const host = new SocketLink(socket, 'tcp:client');
  const atHost = new Collector<unknown>();
  host.onMessage = atHost.push;
  const got = (await atHost.count(3)) as { seq: number; args?: [Uint8Array] }[];
  t.deepEqual(got.map((m) => m.seq), [0, 1, 2]);
  t.true(Buffer.from(got[1]!.args![0]).equals(large));
  // The adopted socket counts as the server's connection: close() finishes once it is gone.
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  client.close();
  await within(closed, 'the server to close after its one connection ended');
  t.pass();
});

test('garbage from one peer closes only its link, with a typed reason; the other link goes on', async (t) => {
  const server = await unixServer(t);
  const goodSide = server.accept();
  const good = new SocketLink(await server.dial(), 'good');
  const goodHost = new SocketLink(await goodSide, 'good-peer');
  const badSide = server.accept();
  const raw = await server.dial();
  const badHost = new SocketLink(await badSide, 'bad-peer');
  const rawClosed = deferred();
  raw.on('close', rawClosed.resolve);
  raw.write(Buffer.from([0, 0, 0, 3, 0xff, 0xff, 0x1c])); // a frame whose payload is not CBOR
  const reason = await within(badHost.closed, 'the bad link to close');
  t.true(reason instanceof BadFrameError);
  t.is((reason as BadFrameError).reason, 'undecodable');
  await within(rawClosed.promise, 'the bad peer to be disconnected');
  t.false(badHost.send({ late: true }), 'a closed link sends nothing');
  const got = new Collector<unknown>();
  goodHost.onMessage = got.push;
  good.send({ still: 'here' });
  t.deepEqual(await got.count(1), [{ still: 'here' }]);
});

test('an oversized length prefix closes the link at once, without waiting for the body', async (t) => {
  const server = await unixServer(t);
  const side = server.accept();
  const raw = await server.dial();
  const host = new SocketLink(await side, 'liar', { maxFrame: 1024 });
  raw.write(Buffer.from([0x7f, 0xff, 0xff, 0xff]));
  const reason = (await within(host.closed, 'the link to close')) as BadFrameError;
  t.is(reason.reason, 'too-large');
  t.is(reason.limit, 1024);
});

test('a peer that ends inside a frame closes the link as truncated; a clean end closes it cleanly', async (t) => {
  const server = await unixServer(t);
  const side = server.accept();
  const raw = await server.dial();
  const host = new SocketLink(await side, 'cut');
  raw.end(encodeFrame(Buffer.from('abcdef')).subarray(0, 6));
  t.is(((await within(host.closed, 'the link to close')) as BadFrameError).reason, 'truncated');

  const { client, host: other } = await linkPair(t);
  client.close();
  t.is(await within(other.closed, 'the clean close'), undefined);
  t.is(await client.closed, undefined);
});

test('a peer that stops reading is cut off at the write-buffer limit, so memory stays bounded', async (t) => {
  const server = await unixServer(t);
  const side = server.accept();
  const raw = await server.dial();
  raw.pause(); // reads nothing from now on
  const host = new SocketLink(await side, 'sleepy', { maxWriteBuffer: 256 * 1024 });
  const chunk = { kind: 'signal', value: new Uint8Array(64 * 1024) };
  let sent = 0;
  while (host.send(chunk)) {
    sent++;
    if (sent % 16 === 0) await new Promise((resolve) => setImmediate(resolve)); // let the socket flush what it can
    if (sent > 10_000) break;
  }
  const reason = await within(host.closed, 'the slow peer to be cut off');
  t.true(reason instanceof SlowPeerError);
  t.is((reason as SlowPeerError).limit, 256 * 1024);
  t.true(sent < 10_000);
});
