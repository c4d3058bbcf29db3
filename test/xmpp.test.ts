import test from 'ava';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { client, xml } from '@xmpp/client';
import type { Element } from '@xmpp/xml';
import {
  AuthenticationError,
  PermissionDeniedError,
  UnreachableError,
  connect,
  robots,
  routeOf,
  start,
  supervisor,
  xmppLink,
  type XmppLinkService,
  type XmppLinkOptions,
} from '../src/index.js';
import { createCodec } from '../src/codec/cbor.js';
import { cliEnv, qiact, running } from './_support/cli.js';
import { startProsody, type Prosody } from './_support/prosody.js';
import { Collector, deferred, within } from './_support/wait.js';
import { Arm, Battery, Camera, openGate } from './fixtures/robot.js';

const codec = createCodec();
const NS = 'urn:qiact:1';
// The tests here run one after another: each starts its own XMPP server, and a handful of them
// at once on two cores slows logins down to the point of timing out.

/** A robot on an XMPP server: a battery, an arm, and its XMPP link; alice may use some of it. */
async function robotOn(t: { teardown(fn: () => unknown): void }, server: Prosody, extra: Partial<XmppLinkOptions> = {}) {
  for (const [user, password] of [['robot1', 'robot-pw'], ['alice', 'alice-pw'], ['mallory', 'mallory-pw']] as const) server.register(user, password);
  const warnings: string[] = [];
  const node = await start({ machineId: 'xmpp-robot', onWarning: (m) => warnings.push(m) });
  t.teardown(() => node.stop());
  await node.spawn(Battery, { name: 'battery' });
  await node.spawn(Arm, { name: 'arm' });
  await node.spawn(Camera, { name: 'camera' }); // alice may not use it
  const options: XmppLinkOptions = {
    service: server.service,
    domain: server.domain,
    username: 'robot1',
    password: 'robot-pw',
    robotName: 'Robot One',
    permissions: { 'alice@localhost': { allow: ['battery.*', 'arm.move', 'arm.moved'], deny: ['battery.charge'] } },
    reconnect: { firstDelay: 50, maxDelay: 500 },
    ...extra,
  };
  await node.spawn(xmppLink(options), { name: 'XmppLink' });
  const alice = { jid: 'alice@localhost', password: 'alice-pw', service: server.service };
  return { node, warnings, alice };
}

test.serial('over a real XMPP server: the robot announces its presence and services; an authorised JID calls, watches and is denied what it may not do; an unknown JID is refused; a robot that leaves fails calls in flight at once', async (t) => {
  const server = await startProsody(t);
  const { node, alice } = await robotOn(t, server);
  const session = await connect('xmpp:robot1@localhost', { ...alice, onWarning: () => {} });
  t.teardown(() => session.close());
  t.is(session.identity, 'alice@localhost');
  t.deepEqual((await session.services()).sort(), ['arm', 'battery']);

  const battery = await session.service<Battery>('battery');
  t.is(routeOf(battery).path, 'xmpp');
  t.is(await battery.drain(10), 90);
  const lows = new Collector<number>();
  await battery.low.connect(lows.push);
  await battery.drain(75);
  t.deepEqual(await lows.count(1), [15]);
  await t.throwsAsync(battery.charge(), { instanceOf: PermissionDeniedError, message: 'alice@localhost may not use battery.charge' });
  await t.throwsAsync((await session.service<Arm>('arm')).calibrate(), { instanceOf: PermissionDeniedError });

  // Its presence, as a client that follows it sees it: online, with its services.
  const [robot] = await robots(alice);
  t.like(robot, { jid: 'robot1@localhost', name: 'Robot One', machineId: 'xmpp-robot', online: true });
  t.deepEqual([...robot!.services].sort(), ['arm', 'battery'], 'only what alice may use: not the camera, not the link itself');

  const refused = await t.throwsAsync(connect('xmpp:robot1@localhost', { jid: 'mallory@localhost', password: 'mallory-pw', service: server.service, onWarning: () => {} }), {
    instanceOf: AuthenticationError,
  });
  t.is(refused.reason, 'jid');

  // The robot goes away: a call in flight fails at once, with a typed error.
  const inFlight = battery.hold('robot leaves');
  const t0 = performance.now();
  const stopped = node.stop();
  await t.throwsAsync(inFlight, { instanceOf: UnreachableError, message: /went offline/ });
  t.true(performance.now() - t0 < 3000, 'the call in flight failed as the robot left, not at its timeout');
  openGate('robot leaves'); // the battery finishes its call, so the robot's stop need not wait for it
  await stopped;
  const [gone] = await robots(alice);
  t.like(gone, { jid: 'robot1@localhost', online: false });
});

test.serial('restarting the XMPP server: the robot comes back online on its own, the client reconnects, calls and its subscription resume', async (t) => {
  const server = await startProsody(t);
  const { warnings, alice } = await robotOn(t, server);
  const reconnected = deferred();
  const session = await connect('xmpp:robot1@localhost', {
    ...alice,
    reconnect: { firstDelay: 50, maxDelay: 500 },
    onWarning: (m) => /^reconnected/.test(m) && reconnected.resolve(),
  });
  t.teardown(() => session.close());
  const arm = await session.service<Arm>('arm');
  const moves = new Collector<number>();
  await arm.moved.connect(moves.push);
  t.is(await arm.move(10), 10);

  await server.stop();
  await server.start();
  await within(reconnected.promise, 'the client to reconnect through the restarted server', 20_000);
  t.is(await arm.move(5), 15, 'calls resume');
  t.deepEqual(await moves.count(2), [10, 15], 'the subscription was made again');
  t.true(warnings.some((w) => /XMPP/.test(w)), 'the robot logged the server going away');
});

/** A raw XMPP client, to send what a well-behaved qiact client never does. */
async function rawClient(server: Prosody, user: string, password: string) {
  const xmpp = client({ service: server.service, domain: 'localhost', username: user, password, resource: 'raw' });
  xmpp.on('error', () => {});
  const received: unknown[] = [];
  const errors: Element[] = [];
  let arrived: () => void = () => {};
  xmpp.on('stanza', (stanza: Element) => {
    const q = stanza.getChild('q', NS);
    if (q === undefined) return;
    if (stanza.attrs.type === 'error') errors.push(stanza);
    else received.push(codec.decode(Buffer.from(q.text(), 'base64')));
    arrived();
  });
  await xmpp.start();
  await xmpp.send(xml('presence'));
  const send = (payload: string): Promise<void> => xmpp.send(xml('message', { to: 'robot1@localhost/qiact' }, xml('q', { xmlns: NS }, payload)));
  const message = (m: unknown): Promise<void> => send(Buffer.from(codec.encode(m)).toString('base64'));
  const until = async (check: () => boolean, what: string): Promise<void> => {
    await within(
      (async () => {
        while (!check()) await new Promise<void>((resolve) => (arrived = resolve));
      })(),
      what,
      10_000,
    );
  };
  return { xmpp, received, errors, send, message, until };
}

test.serial('bad input over XMPP: unknown JIDs, malformed and oversized payloads, replayed and unknown ids, a flood: refused or dropped with a log line; the robot stays online for others', async (t) => {
  const server = await startProsody(t);
  const { warnings, alice } = await robotOn(t, server, { limits: { maxFrame: 4096, messagesPerSecond: 50, failureDelay: 10 } });
  const good = await connect('xmpp:robot1@localhost', { ...alice, onWarning: () => {} });
  t.teardown(() => good.close());
  const battery = await good.service<Battery>('battery');

  const mallory = await rawClient(server, 'mallory', 'mallory-pw');
  t.teardown(() => mallory.xmpp.stop());
  await mallory.message({ kind: 'auth', version: 1, token: null });
  await mallory.until(() => mallory.received.length > 0, "mallory's refusal");
  t.like(mallory.received[0], { kind: 'denied', reason: 'jid' });

  const raw = await rawClient(server, 'alice', 'alice-pw');
  t.teardown(() => raw.xmpp.stop());
  await raw.send('%%% not base64 CBOR %%%');
  await raw.send('A'.repeat(20_000));
  await raw.message({ kind: 'auth', version: 1, token: null });
  await raw.until(() => raw.received.some((m) => (m as { kind: string }).kind === 'welcome'), 'welcome');
  await raw.message({ kind: 'reply', id: 999, value: 'nobody asked' });
  t.true(warnings.some((w) => /dropped a payload from alice@localhost\/raw: bad frame \(undecodable\)/.test(w)));
  t.true(warnings.some((w) => /dropped a payload from alice@localhost\/raw: bad frame \(too-large\)/.test(w)));

  // A replayed call id while the first is in flight: refused, not run twice.
  const replay = { kind: 'call', id: 7777, to: 'battery', from: '', method: 'hold', args: ['replay'], timeout: 5000 };
  await raw.message(replay);
  await raw.message(replay);
  await raw.until(() => raw.received.some((m) => (m as { id?: number }).id === 7777), 'the refusal of the replayed id');
  openGate('replay');
  await raw.until(() => raw.received.filter((m) => (m as { id?: number }).id === 7777).length >= 2, 'the answer to the first call');
  const answers = raw.received.filter((m) => (m as { id?: number }).id === 7777) as { kind: string; error?: { code: string } }[];
  t.deepEqual(answers.map((a) => a.kind).sort(), ['fail', 'reply']);
  t.is(answers.find((a) => a.kind === 'fail')?.error?.code, 'BAD_MESSAGE');

  // A flood of calls: over the message rate, refused with the limit named.
  for (let id = 1; id <= 120; id++) void raw.message({ kind: 'call', id, to: 'battery', from: '', method: '@get', args: ['level'], timeout: 5000 });
  const flood = (): unknown[] => raw.received.filter((m) => ['reply', 'fail'].includes((m as { kind: string }).kind) && (m as { id: number }).id <= 120);
  await raw.until(() => flood().length === 120, 'an answer to every call of the flood');
  const fails = raw.received.filter((m) => (m as { kind: string }).kind === 'fail' && (m as { id: number }).id <= 120) as { error: { code: string; data: { limit: string } } }[];
  t.true(fails.length > 0 && fails.every((f) => f.error.code === 'LIMIT_EXCEEDED' && f.error.data.limit === 'messages per second'));

  // A malformed message after welcome: the client is told which field, then its session ends.
  await raw.message({ kind: 'call', id: 5000, to: 'battery', from: '', method: 'drain', args: 'not an array', timeout: 1000 });
  await raw.until(() => raw.received.some((m) => (m as { kind: string }).kind === 'denied'), 'the refusal of a malformed call');
  t.like(raw.received.find((m) => (m as { kind: string }).kind === 'denied'), { kind: 'denied', reason: 'protocol', message: "bad 'call' message: args must be an array" });

  t.is(await battery.drain(1), 99, 'the robot and its other clients go on');
});

test.serial('the qiact command through XMPP: robots lists the robot online with its services; ls, call and watch go through the server', async (t) => {
  const server = await startProsody(t);
  await robotOn(t, server);
  const env = cliEnv();
  const x = ['--xmpp', 'alice@localhost', '--password', 'alice-pw', '--xmpp-server', server.service];
  const r = [...x, '--robot', 'robot1@localhost'];
  // Following the robot comes with the first session.
  const ls = await qiact(env, 'ls', ...r);
  t.deepEqual([ls.code, ls.stderr], [0, '']);
  t.deepEqual(ls.stdout.trimEnd().split('\n').sort(), ['NAME', 'arm', 'battery']);
  const listed = await qiact(env, 'robots', ...x);
  t.is(listed.code, 0, listed.stderr);
  t.regex(listed.stdout, /^ROBOT +NAME +STATUS +MACHINE +SERVICES\nrobot1@localhost +Robot One +online +xmpp-robot +.*battery/);
  t.is((await qiact(env, 'call', 'battery.drain', '10', ...r)).stdout, '90\n');
  const watch = running(t, env, 'watch', 'arm.moved', ...r);
  await watch.line('stderr', /watching arm\.moved/);
  await qiact(env, 'call', 'arm.move', '4', ...r);
  t.regex(await watch.line('stdout', /arm\.moved/), / arm\.moved 4$/);
  const denied = await qiact(env, 'call', 'battery.charge', ...r);
  t.deepEqual([denied.code, denied.stderr], [1, 'qiact: alice@localhost may not use battery.charge\n']);
  const stranger = await qiact(env, 'ls', '--xmpp', 'mallory@localhost', '--password', 'mallory-pw', '--xmpp-server', server.service, '--robot', 'robot1@localhost');
  t.is(stranger.code, 1);
  t.regex(stranger.stderr, /^qiact: the robot robot1@localhost refused mallory@localhost: authentication failed \(jid\)/);
  const noRobot = await qiact(env, 'ls', ...x);
  t.deepEqual([noRobot.code, /--robot/.test(noRobot.stderr)], [2, true]);
});

test.serial('qiact xmpp --config runs the link for a robot from the shell; a client reaches the robot through it', async (t) => {
  const server = await startProsody(t);
  server.register('robot1', 'robot-pw');
  server.register('alice', 'alice-pw');
  const node = await start({ machineId: 'xmpp-cli-robot', onWarning: () => {} });
  t.teardown(() => node.stop());
  await node.spawn(Battery, { name: 'battery' });
  const dir = mkdtempSync(join(tmpdir(), 'qiact-xmpp-'));
  const config = join(dir, 'xmpp.json');
  writeFileSync(config, JSON.stringify({ service: server.service, domain: 'localhost', username: 'robot1', permissions: { 'alice@localhost': { allow: ['battery.*'] } } }));
  const env = cliEnv();
  const noPassword = await qiact(env, 'xmpp', '--config', config);
  t.deepEqual([noPassword.code, noPassword.stderr], [2, `qiact: ${config}: no 'password', and QIACT_XMPP_PASSWORD is not set\n`]);
  const link = running(t, { ...env, QIACT_XMPP_PASSWORD: 'robot-pw' }, 'xmpp', '--config', config, '--directory', node.endpoints.find((e) => e.startsWith('unix:'))!);
  t.regex(await link.line('stdout', /online as/), /^qiact xmpp: online as robot1@localhost\/qiact$/);
  const call = await qiact(env, 'call', 'battery.drain', '25', '--xmpp', 'alice@localhost', '--password', 'alice-pw', '--xmpp-server', server.service, '--robot', 'robot1@localhost');
  t.deepEqual([call.code, call.stdout, call.stderr], [0, '75\n', '']);
});

test.serial('an XMPP link killed without its onStop and restarted by its supervisor takes the login over; clients reach the robot again', async (t) => {
  const server = await startProsody(t);
  server.register('robot1', 'robot-pw');
  server.register('alice', 'alice-pw');
  const node = await start({ machineId: 'xmpp-kill', onWarning: () => {} });
  t.teardown(() => node.stop());
  await node.spawn(Battery, { name: 'battery' });
  const link = xmppLink({ service: server.service, domain: 'localhost', username: 'robot1', password: 'robot-pw', permissions: { 'alice@localhost': { allow: ['battery.*'] } } });
  const sup = await node.supervise(supervisor({ strategy: 'one_for_one', children: [{ id: 'xmpp', name: 'XmppLink', start: link, shutdown: 'brutal_kill' }] }));
  const online = async (): Promise<void> => {
    const l = await node.service<XmppLinkService>('XmppLink');
    if (!(await l.online.get())) await new Promise<void>((resolve) => void l.online.connect((on) => on && resolve()));
  };
  await within(online(), 'the link to be online', 10_000);
  await sup.terminateChild('xmpp');
  await sup.restartChild('xmpp');
  await within(online(), 'the restarted link to be online', 10_000);
  const changes: boolean[] = [];
  await (await node.service<XmppLinkService>('XmppLink')).online.connect((on) => changes.push(on));
  const session = await connect('xmpp:robot1@localhost', { jid: 'alice@localhost', password: 'alice-pw', service: server.service, onWarning: () => {} });
  t.teardown(() => session.close());
  const battery = await session.service<Battery>('battery');
  // A thousand calls one after the other, half a second and more: two logins on one resource
  // would throw each other off the server within that (each reconnects 100 ms after losing),
  // and calls would fail.
  for (let i = 0; i < 1000; i++) t.is(await battery.level.get(), 100);
  t.deepEqual(changes, [], 'the restarted link stayed online');
});
