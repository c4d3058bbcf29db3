/**
 * The Gateway's WebSocket door (wss://): the same sessions, identities, permissions and limits
 * as its TLS door, one binary CBOR message per WebSocket message, and an origin check for pages
 * in browsers. Attacked the way the TLS door is: bad tokens, wrong origins, text and garbage
 * messages, oversized messages, floods.
 */
import test from 'ava';
import { WebSocket } from 'ws';
import {
  AuthenticationError,
  LimitExceededError,
  PermissionDeniedError,
  UnreachableError,
  connect,
  gateway,
  hashToken,
  routeOf,
  start,
  type GatewayOptions,
  type GatewayService,
  type Session,
} from '../src/index.js';
import { createCodec } from '../src/codec/cbor.js';
import { join } from 'node:path';
import { makeCerts } from './_support/certs.js';
import { cliEnv, qiact } from './_support/cli.js';
import { Collector, within } from './_support/wait.js';
import { Battery, openGate } from './fixtures/robot.js';

const certs = makeCerts();
const codec = createCodec();
const ORIGIN = 'https://ops.example.net';

async function robot(t: { teardown(fn: () => unknown): void }, limits: Partial<GatewayOptions['limits']> = {}) {
  const node = await start({ machineId: 'ws-door', onWarning: () => {} });
  t.teardown(() => node.stop());
  await node.spawn(Battery, { name: 'battery' });
  const options: GatewayOptions = {
    listen: 'tls://127.0.0.1:0',
    webSocket: { listen: 'wss://127.0.0.1:0', origins: [ORIGIN] },
    cert: certs.server.cert,
    key: certs.server.key,
    tokens: { tablet: hashToken('tablet-token'), viewer: hashToken('viewer-token') },
    permissions: { tablet: { allow: ['battery.*'], deny: ['battery.charge'] }, viewer: { allow: ['battery.level'], readOnly: true } },
    limits: { failureDelay: 100, ...limits },
  };
  await node.spawn(gateway(options), { name: 'Gateway' });
  const door = await node.service<GatewayService>('Gateway');
  const url = (await door.webSocketEndpoint())!;
  const client = (more: Parameters<typeof connect>[1] = {}): Promise<Session> => connect(url, { token: 'tablet-token', ca: certs.ca, onWarning: () => {}, ...more });
  return { node, url, tls: await door.endpoint(), client };
}

/** A raw WebSocket to the door, for what a well-behaved client never sends. */
async function raw(url: string, origin?: string): Promise<{ socket: WebSocket; received: Record<string, unknown>[]; closed: Promise<number>; send(m: unknown): void }> {
  const socket = new WebSocket(url, { ca: certs.ca, ...(origin === undefined ? {} : { origin }) });
  await new Promise<void>((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', reject);
  });
  const received: Record<string, unknown>[] = [];
  socket.on('message', (data: Buffer) => received.push(codec.decode(data) as Record<string, unknown>));
  const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
  return { socket, received, closed, send: (m) => socket.send(codec.encode(m)) };
}

test.serial('a client over wss:// calls, watches and is denied what its permissions deny, as over TLS', async (t) => {
  const { client, url, tls } = await robot(t);
  t.regex(url, /^wss:\/\/127\.0\.0\.1:\d+$/);
  t.not(url, tls.replace('tls:', 'wss:'), 'a door of its own');
  const tablet = await client();
  t.teardown(() => tablet.close());
  t.is(tablet.identity, 'tablet');
  t.deepEqual(await tablet.services(), ['battery']);
  const battery = await tablet.service<Battery>('battery');
  t.is(routeOf(battery).path, 'gateway');
  const levels = new Collector<number>();
  await battery.level.connect(levels.push);
  t.is(await battery.drain(10), 90);
  t.deepEqual(await levels.count(1), [90]);
  await t.throwsAsync(battery.charge(), { instanceOf: PermissionDeniedError });

  const viewer = await client({ token: 'viewer-token' });
  t.teardown(() => viewer.close());
  t.is(await (await viewer.service<Battery>('battery')).level.get(), 90, 'a read-only identity reads');

  // The qiact command through the WebSocket door, as through the TLS one.
  const called = await qiact(cliEnv(), 'call', 'battery.drain', '5', '--gateway', url, '--token', 'tablet-token', '--ca', join(certs.dir, 'test-ca.crt'));
  t.deepEqual(called, { code: 0, stdout: '85\n', stderr: '' });

  // 40 calls made in one turn: their replies and the 40 level changes leave the door in bursts
  // (16 WebSocket messages to a write), each intact and in order.
  const drained = await Promise.all(Array.from({ length: 40 }, () => battery.drain(1)));
  t.deepEqual(drained, Array.from({ length: 40 }, (_, i) => 84 - i));
  t.deepEqual(await levels.count(42), [90, 85, ...drained]);
});

test.serial('refused at the WebSocket door: a bad token, a page from another origin, text, garbage and oversized messages, each on that connection only', async (t) => {
  const { client, url } = await robot(t, { maxFrame: 64 * 1024 });
  const good = await client();
  t.teardown(() => good.close());
  const battery = await good.service<Battery>('battery');

  t.is((await t.throwsAsync(client({ token: 'wrong' }), { instanceOf: AuthenticationError })).reason, 'token');
  t.is((await t.throwsAsync(client({ token: undefined }), { instanceOf: AuthenticationError })).reason, 'token');

  // A page of another origin never gets a session (HTTP 403 at the upgrade); the configured one does.
  const refused = await t.throwsAsync(raw(url, 'https://evil.example.com'));
  t.regex(refused.message, /403/);
  const page = await raw(url, ORIGIN);
  page.send({ kind: 'auth', version: 1, token: 'tablet-token' });
  await within(new Promise<void>((resolve) => page.socket.once('message', () => resolve())), 'the page to be let in');
  t.like(page.received[0], { kind: 'welcome', identity: 'tablet' });
  page.socket.close();

  const text = await raw(url);
  text.socket.send('{"kind":"auth"}');
  t.is(await within(text.closed, 'a text message to close the connection'), 1003);

  const garbage = await raw(url);
  garbage.socket.send(Buffer.from([0xff, 0xfe, 0x00]));
  t.is(await within(garbage.closed, 'garbage to close the connection'), 1003);

  const early = await raw(url);
  early.send({ kind: 'call', id: 1, to: 'battery', from: '', method: 'drain', args: [1], timeout: 1000 });
  await within(early.closed, 'a call before auth to close the connection');
  t.like(early.received[0], { kind: 'denied', reason: 'protocol' });

  const huge = await raw(url);
  huge.send({ kind: 'auth', version: 1, token: 'tablet-token' });
  huge.socket.send(Buffer.alloc(256 * 1024, 1));
  t.is(await within(huge.closed, 'an oversized message to close the connection'), 1009);

  t.is(await battery.drain(1), 99, 'the good client goes on');
});

test.serial('limits hold on the WebSocket door: calls in flight, messages per second, connections', async (t) => {
  const { client } = await robot(t, { maxInFlight: 2, messagesPerSecond: 40, maxConnections: 2 });
  const session = await client();
  t.teardown(() => session.close());
  const battery = await session.service<Battery>('battery');
  const inFlight = [battery.hold('ws-limits'), battery.hold('ws-limits')];
  t.like(await t.throwsAsync(battery.hold('ws-limits'), { instanceOf: LimitExceededError }), { limit: 'calls in flight', value: 2 });
  openGate('ws-limits');
  t.deepEqual(await Promise.all(inFlight), ['released', 'released']);
  const burst = await Promise.allSettled(Array.from({ length: 100 }, () => battery.level.get()));
  t.true(burst.some((r) => r.status === 'rejected' && r.reason instanceof LimitExceededError && r.reason.limit === 'messages per second'));
  const second = await client();
  t.teardown(() => second.close());
  await t.throwsAsync(client({ connectTimeout: 2000 }), { instanceOf: UnreachableError }, 'a third connection is refused');
});
