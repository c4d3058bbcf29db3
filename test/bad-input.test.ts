import test from 'ava';
import { connect, createServer, type Socket } from 'node:net';
import { createCodec } from '../src/codec/cbor.js';
import { encodeFrame, frameHeader } from '../src/codec/frames.js';
import { DIRECTORY_NAME, ManualClock, UnreachableError, start, type ServiceDirectory } from '../src/index.js';
import { Counter, MODULE } from './fixtures/services.js';
import { Collector, within } from './_support/wait.js';

/** Opens a raw socket to a node's Unix endpoint; resolves `closed` when the node drops it. */
async function rawPeer(endpoint: string): Promise<{ socket: Socket; closed: Promise<void> }> {
  const socket = connect(endpoint.slice('unix:'.length));
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.on('error', () => {});
  socket.resume(); // read (and drop) what the node sends, so its hang-up is seen
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return { socket, closed };
}

const codec = createCodec();
const frame = (message: unknown): Buffer => encodeFrame(codec.encode(message));
const hello = (version = 1) => frame({ kind: 'hello', version, machineId: 'intruder', processId: 1, threadId: 0 });

test('bad input on one connection closes that connection only, with a logged typed reason; calls on other links go on', async (t) => {
  const warnings = new Collector<string>();
  const node = await start({ machineId: 'bad-input', handshakeTimeout: 300, onWarning: (message) => warnings.push(message) });
  t.teardown(() => node.stop());
  await node.spawn(Counter, { name: 'there', in: 'process', module: MODULE });
  const there = await node.service<Counter>('there');
  const unix = node.endpoints.find((e) => e.startsWith('unix:'))!;

  // Calls to the child process are in flight over its own link during the whole attack.
  const inFlight = Array.from({ length: 200 }, () => there.add(1));

  const attacks: [string, (s: Socket) => void, RegExp][] = [
    ['garbage bytes', (s) => s.write(Buffer.from('GET / HTTP/1.1\r\nHost: robot\r\n\r\n')), /bad frame|not-hello|undecodable/],
    ['an oversized length prefix', (s) => s.write(frameHeader(0xfffffff0)), /too-large/],
    ['a wrong protocol version', (s) => s.write(hello(99)), /\(version\).*version 99/],
    ['a first message that is not hello', (s) => s.write(frame({ kind: 'call', id: 1, to: 'x/1/0/1', from: 'y/1/0/1', method: 'm', args: [], timeout: 1 })), /not-hello/],
    ['an unknown message kind after a good hello', (s) => s.write(Buffer.concat([hello(), frame({ kind: 'teleport' })])), /bad 'teleport' message: kind is unknown/],
    ['a message with a wrong field after a good hello', (s) => s.write(Buffer.concat([hello(), frame({ kind: 'post', to: 1, from: 'y', method: 'm', args: [] })])), /bad 'post' message: to must be a string/],
    ['a truncated frame, then hanging up', (s) => s.end(Buffer.concat([hello(), frameHeader(100), Buffer.alloc(10)])), /truncated/],
    ['a peer that connects and says nothing', () => {}, /\(timeout\)/],
  ];
  for (const [what, attack, reason] of attacks) {
    const before = warnings.values.length;
    const peer = await rawPeer(unix);
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
