import test from 'ava';
import { connect as tcpConnect } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import {
  AuthenticationError,
  BadArgumentsError,
  LimitExceededError,
  ServiceError,
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

// One test at a time: several gateways handshaking TLS and bursting thousands of messages at
// once on two cores make deadlines of the others fail for load alone.
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
    // A handshake deadline that TLS handshakes meet on a loaded 2-core machine; the test of silent
    // clients shortens it.
    limits: { failureDelay: 100, handshakeTimeout: 5000, ...extra.limits },
  };
  await node.spawn(gateway(options), { name: 'Gateway' });
  const url = await (await node.service<GatewayService>('Gateway')).endpoint();
  const client = (more: Parameters<typeof connect>[1] = {}): Promise<Session> => connect(url, { token: 'tablet-token', ca: certs.ca, onWarning: () => {}, ...more });
  return { node, url, warnings, warned, client, port: Number(url.split(':').pop()) };
}

/** A TLS connection that speaks raw frames, for what a well-behaved client never sends. */
async function raw(port: number, localAddress?: string): Promise<{ socket: TLSSocket; received: unknown[]; closed: Promise<void> }> {
  const socket = tlsConnect({ host: '127.0.0.1', port, ca: certs.ca, ...(localAddress ? { localAddress } : {}) });
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

test.serial('plain TCP, garbage and silent connections are dropped alone; a client already in goes on', async (t) => {
  const { port, client, warnings } = await robot(t, { limits: { handshakeTimeout: 1000 } });
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

test.serial('refused at the door with a typed reason after a delay, and nothing of the inside said', async (t) => {
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

test.serial('failures are counted per address and claimed identity: a client that keeps failing is refused as rate-limited, another behind the same address still gets in', async (t) => {
  const { client } = await robot(t, { blockAfter: { failures: 3, windowMs: 60_000 } });
  for (let i = 0; i < 3; i++) t.is((await t.throwsAsync(client({ token: 'a stale token' }), { instanceOf: AuthenticationError }))?.reason, 'token');
  const blocked = await t.throwsAsync(client({ token: 'a stale token' }), { instanceOf: AuthenticationError });
  t.is(blocked.reason, 'rate-limited');
  const good = await client();
  t.is(good.identity, 'tablet', 'the right token from the same address is let in');
  await good.close();
});

test.serial('connections from one address get a share of the listener: past it they are closed at once, another address still gets in', async (t) => {
  const { port, client, warned } = await robot(t, { limits: { maxConnectionsPerAddress: 4 } });
  const held = await Promise.all(Array.from({ length: 4 }, () => client()));
  t.teardown(() => Promise.all(held.map((h) => h.close())));
  const refused = await raw(port).catch((error: Error) => error);
  if (!(refused instanceof Error)) await within(refused.closed, 'a connection past the share to be closed');
  await within(warned(/refusing connections from 127\.0\.0\.1: 4 open \(limit 4 per address\)/), 'the refusal to be logged');
  // Another address (loopback has them all) is not held back by the first one's share.
  const other = await raw(port, '127.0.0.2');
  const welcome = new Promise((resolve) => other.socket.on('data', () => other.received.length > 0 && resolve(other.received[0])));
  other.socket.write(encodeFrame(codec.encode({ kind: 'auth', version: 1, token: 'tablet-token' })));
  t.like(await within(welcome, 'the other address to be let in'), { kind: 'welcome', identity: 'tablet' });
  other.socket.destroy();
});

test.serial('a bad first message, an unknown kind after auth and an oversized frame close that connection only', async (t) => {
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

test.serial('limits: calls in flight, messages per second and connections, each named in the error', async (t) => {
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

test.serial('a client that stops reading is cut off at the write-buffer bound; the gateway and its other clients go on', async (t) => {
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

/** A raw TLS client that authenticated as the tablet: for bursts a well-behaved client never sends. */
async function authed(port: number): Promise<{ socket: TLSSocket; received: Record<string, unknown>[]; until(n: number, what: string): Promise<void>; closed: Promise<void> }> {
  const r = await raw(port);
  const waiting: { n: number; done: () => void }[] = [];
  r.socket.on('data', () => {
    for (const w of waiting.splice(0)) (r.received.length >= w.n ? w.done : () => waiting.push(w))();
  });
  const until = (n: number, what: string): Promise<void> =>
    r.received.length >= n ? Promise.resolve() : within(new Promise<void>((done) => waiting.push({ n, done })), what, 10_000);
  r.socket.write(encodeFrame(codec.encode({ kind: 'auth', version: 1, token: 'tablet-token' })));
  await until(1, 'welcome');
  r.received.shift();
  return { ...r, received: r.received as Record<string, unknown>[], until };
}

const burst = (messages: unknown[]): Buffer => Buffer.concat(messages.map((m) => encodeFrame(codec.encode(m))));

test.serial('only plain data crosses the door, and only a service own methods answer as methods: exotic CBOR and odd names are refused with typed errors, nothing restarts', async (t) => {
  const { node, port } = await robot(t);
  const before = (await node.services()).find((s) => s.name === 'battery')!.address;
  const c = await authed(port);
  // CBOR tag 27 (a RegExp once decoded), a Set (tag 258), a Date (tag 1): each named where it is.
  const regexp = Buffer.concat([Buffer.from([0xd8, 0x1b, 0x83, 0x66]), Buffer.from('RegExp'), Buffer.from([0x63]), Buffer.from('a+b'), Buffer.from([0x60])]); // 27(["RegExp", "a+b", ""])
  const call = (id: number, method: string, args: unknown[]): Buffer => encodeFrame(codec.encode({ kind: 'call', id, to: 'battery', from: '', method, args, timeout: 2000 }));
  const withTag = (id: number, tagged: Buffer): Buffer => {
    const plainCall = codec.encode({ kind: 'call', id, to: 'battery', from: '', method: 'drain', args: ['§'], timeout: 2000 });
    const marker = plainCall.indexOf(Buffer.from([0x62, 0xc2, 0xa7])); // the string "§" as CBOR
    const payload = Buffer.concat([plainCall.subarray(0, marker), tagged, plainCall.subarray(marker + 3)]);
    return encodeFrame(payload);
  };
  c.socket.write(Buffer.concat([
    withTag(1, regexp),
    withTag(2, Buffer.from([0xd9, 0x01, 0x02, 0x81, 0x01])), // 258([1]): a Set
    withTag(3, Buffer.from([0xc1, 0x1a, 0x65, 0x00, 0x00, 0x00])), // 1(…): a Date
    call(4, 'then', []),
    call(5, 'level', []),
    call(6, 'low', []),
    call(7, 'toString', []),
    call(8, '@set', ['nope', 1]),
    call(9, '@set', ['level', 500]),
  ]));
  await c.until(9, 'nine answers');
  const byId = new Map(c.received.map((m) => [m.id, m.error as { code: string; data: Record<string, unknown>; message: string }]));
  for (const id of [1, 2, 3]) {
    t.is(byId.get(id)?.code, 'BAD_ARGUMENTS', `call ${id}`);
    t.is(byId.get(id)?.data.parameter, 'args[0]', `call ${id} names the argument`);
  }
  t.regex(byId.get(1)!.message, /args\[0\] is a RegExp/);
  for (const id of [4, 5, 6, 7, 8]) t.is(byId.get(id)?.code, 'NO_SUCH_METHOD', `call ${id}`);
  t.like(byId.get(9), { code: 'BAD_ARGUMENTS', data: { parameter: 'value' }, message: 'battery.level: value must be <= 100' }, "a property's new value is checked against its schema");
  t.is((await node.services()).find((s) => s.name === 'battery')!.address, before, 'battery was never restarted');
  c.socket.destroy();
});

test.serial('limits hold under pipelining: a thousand subscribes in one write get the limit and no more, a re-used sub id is refused, and a closed session leaves no subscription behind', async (t) => {
  const { port, node } = await robot(t, { limits: { maxSubscriptions: 100, messagesPerSecond: 100_000 } });
  const c = await authed(port);
  c.socket.write(burst(Array.from({ length: 1000 }, (_, i) => ({ kind: 'subscribe', id: i + 1, to: 'battery', from: '', member: 'level', sub: i + 1 }))));
  await c.until(1000, 'an answer to every subscribe');
  t.is(c.received.filter((m) => m.kind === 'reply').length, 100);
  t.is(c.received.filter((m) => (m.error as { code?: string } | undefined)?.code === 'LIMIT_EXCEEDED').length, 900);
  const d = await authed(port);
  d.socket.write(burst(Array.from({ length: 50 }, (_, i) => ({ kind: 'subscribe', id: i + 1, to: 'battery', from: '', member: 'low', sub: 7 }))));
  await d.until(50, 'an answer to every subscribe of sub 7');
  t.is(d.received.filter((m) => m.kind === 'reply').length, 1, 'one subscription for sub 7');
  t.is(d.received.filter((m) => (m.error as { code?: string } | undefined)?.code === 'BAD_MESSAGE').length, 49);
  // The service holds exactly what the sessions hold, and nothing once they are gone.
  const battery = await node.service<Battery>('battery');
  const count = (): Promise<number> => battery.subscribers();
  t.is(await count(), 101);
  c.socket.destroy();
  d.socket.destroy();
  await within(Promise.all([c.closed, d.closed]), 'the sessions to close');
  await within((async () => { while ((await count()) !== 0) await new Promise((r) => setImmediate(r)); })(), 'every subscription to be turned off in the service');
  t.pass();
});

test.serial('an identity whose calls keep crashing a service is cut off before the supervisor would escalate; other clients and services go on', async (t) => {
  const { node, client } = await robot(t, { permissions: { tablet: { allow: ['battery.*', 'camera.*'] }, phone: { allow: ['battery.*'] } }, tokens: { tablet: hashToken('tablet-token'), phone: hashToken('phone-token') } });
  const camera = (await node.services()).find((s) => s.name === 'camera')!.address;
  const tablet = await client();
  const phone = await client({ token: 'phone-token' });
  const battery = await tablet.service<Battery>('battery');
  // What once crashed the battery from outside is refused at the door by its schema.
  const nasty = { toString: 1, valueOf: 1 } as never;
  t.like(await t.throwsAsync(battery.drain(nasty), { instanceOf: BadArgumentsError }), { parameter: 'args[0]' });
  // A bug reached with well-formed arguments: counted per identity.
  for (let i = 0; i < 2; i++) t.true((await t.throwsAsync(battery.explode('again'), { instanceOf: ServiceError }))!.crashed);
  const cut = await t.throwsAsync(battery.explode('once more'));
  t.true(cut instanceof ServiceError || cut instanceof AuthenticationError, String(cut));
  const again = await t.throwsAsync(client(), { instanceOf: AuthenticationError });
  t.is(again.reason, 'crashes');
  t.is(await (await phone.service<Battery>('battery')).drain(1), 99, 'another identity goes on');
  t.is((await node.services()).find((s) => s.name === 'camera')!.address, camera, 'other services never restarted');
  await phone.close();
  await tablet.close();
});
