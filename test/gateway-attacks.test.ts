import test from 'ava';
import { connect as tcpConnect } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import {
  AuthenticationError,
  LimitExceededError,
  UnreachableError,
  connect,
  gateway,
  hashToken,
  start,
  type GatewayOptions,
  type GatewayService,
  type AuthenticationReason,
  type Session,
} from '../src/index.js';
import { createCodec } from '../src/codec/cbor.js';
import { encodeFrame, frameHeader } from '../src/codec/frames.js';
import { makeCerts } from './_support/certs.js';
import { within } from './_support/wait.js';
import { Battery, Camera, openGate } from './fixtures/robot.js';

const certs = makeCerts();
const codec = createCodec();

/** A robot with a battery and a gateway in this thread; its own, so limits and blocks stay in it. */
async function robot(t: { teardown(fn: () => unknown): void }, extra: Partial<GatewayOptions> = {}) {
  const warnings: string[] = [];
  const waiting: { pattern: RegExp; resolve: () => void }[] = [];
  const node = await start({
    machineId: 'gw-attack',
    onWarning: (m) => {
      warnings.push(m);
      for (const w of waiting) if (w.pattern.test(m)) w.resolve();
    },
  });
  /** Resolves once a warning matching `pattern` has been logged. */
  const warned = (pattern: RegExp): Promise<void> =>
    warnings.some((w) => pattern.test(w)) ? Promise.resolve() : new Promise((resolve) => waiting.push({ pattern, resolve }));
  t.teardown(() => node.stop());
  await node.spawn(Battery, { name: 'battery' });
  await node.spawn(Camera, { name: 'camera' });
  const options: GatewayOptions = {
    listen: 'tls://127.0.0.1:0',
    cert: certs.server.cert,
    key: certs.server.key,
    ca: certs.ca,
    tokens: { tablet: hashToken('tablet-token') },
    permissions: { tablet: { allow: ['battery.*', 'camera.*'] } },
    ...extra,
    limits: { failureDelay: 100, handshakeTimeout: 400, ...extra.limits },
  };
  await node.spawn(gateway(options), { name: 'Gateway' });
  const url = await (await node.service<GatewayService>('Gateway')).endpoint();
  const client = (more: Parameters<typeof connect>[1] = {}): Promise<Session> => connect(url, { token: 'tablet-token', ca: certs.ca, onWarning: () => {}, ...more });
  return { node, url, warnings, warned, client, port: Number(url.split(':').pop()) };
}

/** A TLS connection that speaks raw frames, for what a well-behaved client never sends. */
async function raw(port: number): Promise<{ socket: TLSSocket; received: unknown[]; closed: Promise<void> }> {
  const socket = tlsConnect({ host: '127.0.0.1', port, ca: certs.ca });
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', resolve);
    socket.once('error', reject);
  });
  const received: unknown[] = [];
  let buffer = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    while (buffer.length >= 4 && buffer.length >= 4 + buffer.readUInt32BE(0)) {
      received.push(codec.decode(buffer.subarray(4, 4 + buffer.readUInt32BE(0))));
      buffer = buffer.subarray(4 + buffer.readUInt32BE(0));
    }
  });
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return { socket, received, closed };
}

const INSIDE = /gw-attack|unix:|tcp:|port:|\/\d+\/\d+\/\d+|at \S+\.ts/;

test('plain TCP, garbage and silent connections are dropped alone; a client already in goes on', async (t) => {
  const { port, client, warnings } = await robot(t);
  const good = await client();
  t.teardown(() => good.close());
  const battery = await good.service<Battery>('battery');

  const plain = tcpConnect(port, '127.0.0.1');
  plain.on('error', () => {});
  plain.write('GET / HTTP/1.1\r\nHost: robot\r\n\r\n');
  await within(new Promise((resolve) => plain.once('close', resolve)), 'plain TCP to be dropped');

  const silentTcp = tcpConnect(port, '127.0.0.1');
  silentTcp.on('error', () => {});
  await within(new Promise((resolve) => silentTcp.once('close', resolve)), 'a silent TCP connection to be dropped');

  const silentTls = await raw(port);
  await within(silentTls.closed, 'a TLS client that never authenticates to be dropped');
  t.like(silentTls.received[0], { kind: 'denied', reason: 'timeout' });

  t.is(await battery.drain(1), 99, 'the client already in was not disturbed');
  t.true(warnings.some((w) => /TLS refused/.test(w)), 'each refusal is logged');
});

test('refused at the door with a typed reason after a delay, and nothing of the inside said', async (t) => {
  const { client } = await robot(t);
  const cases: [Parameters<typeof connect>[1], AuthenticationReason][] = [
    [{ token: 'wrong' }, 'token'],
    [{ token: undefined }, 'token'],
    [{ token: undefined, cert: certs.expired.cert, key: certs.expired.key }, 'certificate'],
    [{ token: undefined, cert: certs.stranger.cert, key: certs.stranger.key }, 'certificate'],
  ];
  for (const [options, reason] of cases) {
    const t0 = performance.now();
    const error = await t.throwsAsync(client(options), { instanceOf: AuthenticationError });
    t.is(error.reason, reason);
    t.true(performance.now() - t0 >= 90, 'after the failure delay');
    t.false(INSIDE.test(error.message), error.message);
  }
  await t.throwsAsync(connect('tls://127.0.0.1:1', { token: 'tablet-token', ca: certs.ca }), { instanceOf: UnreachableError }, 'no gateway there');
});

test('repeated failures from one address are refused as rate-limited, even with the right token', async (t) => {
  const { client } = await robot(t, { blockAfter: { failures: 3, windowMs: 60_000 } });
  for (let i = 0; i < 3; i++) await t.throwsAsync(client({ token: `guess-${i}` }), { instanceOf: AuthenticationError });
  const blocked = await t.throwsAsync(client(), { instanceOf: AuthenticationError });
  t.is(blocked.reason, 'rate-limited');
});

test('a bad first message, an unknown kind after auth and an oversized frame close that connection only', async (t) => {
  const { port, client } = await robot(t, { limits: { maxFrame: 64 * 1024 } });
  const good = await client();
  t.teardown(() => good.close());
  const battery = await good.service<Battery>('battery');

  const early = await raw(port);
  early.socket.write(encodeFrame(codec.encode({ kind: 'call', id: 1, to: 'battery', from: '', method: 'drain', args: [1], timeout: 1000 })));
  await within(early.closed, 'a call before auth to close the connection');
  t.like(early.received[0], { kind: 'denied', reason: 'protocol' });

  const odd = await raw(port);
  odd.socket.write(encodeFrame(codec.encode({ kind: 'auth', version: 1, token: 'tablet-token' })));
  odd.socket.write(encodeFrame(codec.encode({ kind: 'hello', version: 1, machineId: 'x', processId: 1, threadId: 0 })));
  await within(odd.closed, 'an unknown kind to close the connection');
  t.like(odd.received[0], { kind: 'welcome', identity: 'tablet' });

  const huge = await raw(port);
  huge.socket.write(encodeFrame(codec.encode({ kind: 'auth', version: 1, token: 'tablet-token' })));
  huge.socket.write(frameHeader(64 * 1024 * 1024));
  await within(huge.closed, 'an oversized frame to close the connection');

  t.is(await battery.drain(1), 99, 'the good client goes on');
});

test('limits: calls in flight, messages per second and connections, each named in the error', async (t) => {
  const { client } = await robot(t, { limits: { maxInFlight: 2, messagesPerSecond: 40, maxConnections: 3 } });
  const session = await client();
  t.teardown(() => session.close());
  const battery = await session.service<Battery>('battery');
  const inFlight = [battery.hold('limits'), battery.hold('limits')];
  const third = await t.throwsAsync(battery.hold('limits'), { instanceOf: LimitExceededError });
  t.like(third, { limit: 'calls in flight', value: 2 });
  openGate('limits');
  t.deepEqual(await Promise.all(inFlight), ['released', 'released']);

  const burst = await Promise.allSettled(Array.from({ length: 100 }, () => battery.level.get()));
  const overRate = burst.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason as LimitExceededError);
  t.true(overRate.length > 0 && overRate.every((e) => e instanceof LimitExceededError && e.limit !== 'connections'));
  t.true(overRate.some((e) => e.limit === 'messages per second' && e.value === 40));

  const more = [await client(), await client()];
  t.teardown(() => Promise.all(more.map((s) => s.close())));
  await t.throwsAsync(client({ connectTimeout: 2000 }), { instanceOf: UnreachableError }, 'a fourth connection is refused');
});

test('a client that stops reading is cut off at the write-buffer bound; the gateway and its other clients go on', async (t) => {
  const { port, client, warned } = await robot(t, { limits: { maxWriteBuffer: 64 * 1024 } });
  const good = await client();
  t.teardown(() => good.close());
  const camera = await good.service<Camera>('camera');

  const slow = await raw(port);
  slow.socket.write(encodeFrame(codec.encode({ kind: 'auth', version: 1, token: 'tablet-token' })));
  slow.socket.write(encodeFrame(codec.encode({ kind: 'subscribe', id: 1, to: 'camera', from: '', member: 'frames', sub: 1 })));
  await within(
    (async () => {
      while (!slow.received.some((m) => (m as { kind: string }).kind === 'reply')) await new Promise((resolve) => slow.socket.once('data', resolve));
    })(),
    'the subscription to be made',
  );
  slow.socket.pause(); // it reads no more

  // 400 frames of 32 KiB: 12.8 MB for a client that reads nothing.
  await camera.burst(400, 32 * 1024);
  await within(warned(/client 127\.0\.0\.1 \(tablet\) dropped: .*not reading/), 'the slow client to be cut off');
  await within(slow.closed, 'its connection to close');
  t.is(await camera.burst(1, 16), 1, 'the good client goes on');
  t.is(await (await good.service<Battery>('battery')).drain(1), 99);
});
