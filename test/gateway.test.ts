import test from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  DIRECTORY_NAME,
  gateway,
  type GatewayService,
  BadArgumentsError,
  PermissionDeniedError,
  ServiceError,
  UnreachableError,
  connect,
  hashToken,
  routeOf,
  start,
  supervisor,
  type GatewayOptions,
  type ServiceDirectory,
} from '../src/index.js';
import { makeCerts } from './_support/certs.js';
import { freePort, startTinyproxy } from './_support/real-parts.js';
import { Collector, deferred, within } from './_support/wait.js';
import { Arm, Battery, MODULE } from './fixtures/robot.js';

const certs = makeCerts();

/** Who may do what, as a robot's owner would write it. */
const permissions: GatewayOptions['permissions'] = {
  // The operator's tablet: the battery (but not charging it) and moving the arm.
  tablet: { allow: ['battery.*', 'arm.move', 'arm.moved'], deny: ['battery.charge'] },
  // A dashboard with a client certificate (CN=alice): it may only look.
  alice: { allow: ['battery.level', 'battery.low'], readOnly: true },
};

/** The gateway module for a child process, with its options in a file of this test's own. */
function gatewayModule(options: GatewayOptions): string {
  const file = join(certs.dir, `gateway-${options.listen.replace(/\W/g, '-')}-options`);
  writeFileSync(file, JSON.stringify(options));
  return `${pathToFileURL(join(import.meta.dirname, 'fixtures', 'robot-gateway.ts')).href}?config=${encodeURIComponent(file)}`;
}

test('a robot with a gateway: an outside client calls, watches and is denied exactly what its permissions deny, directly and through an HTTP proxy; a killed gateway is restarted and the client reconnects on its own', async (t) => {
  const robot = await start({ machineId: 'gw-robot', onWarning: () => {} });
  t.teardown(() => robot.stop());
  await robot.spawn(Battery, { name: 'battery', in: 'process', module: MODULE });
  await robot.spawn(Arm, { name: 'arm', in: 'process', module: MODULE });
  const port = await freePort();
  const url = `tls://127.0.0.1:${port}`;
  const options: GatewayOptions = { listen: url, cert: certs.server.cert, key: certs.server.key, ca: certs.ca, tokens: { tablet: hashToken('tablet-token') }, permissions };
  // Supervised like any service, in a process of its own: its module builds it from the options.
  const child = { id: 'gateway', name: 'Gateway', start: gateway(options), in: 'process' as const, module: gatewayModule(options), export: 'RobotGateway' };
  await robot.supervise(supervisor({ strategy: 'one_for_one', children: [child] }));

  const reconnected = deferred();
  const tablet = await connect(url, {
    token: 'tablet-token',
    ca: certs.ca,
    reconnect: { firstDelay: 50, maxDelay: 500 },
    onWarning: (message) => /^reconnected/.test(message) && reconnected.resolve(),
  });
  t.teardown(() => tablet.close());
  t.is(tablet.identity, 'tablet');
  t.deepEqual((await tablet.services()).sort(), ['arm', 'battery'], 'it sees what it may use, nothing internal');

  const battery = await tablet.service<Battery>('battery');
  t.is(routeOf(battery).path, 'gateway');
  t.is(await battery.drain(10), 90);
  const lows = new Collector<number>();
  await battery.low.connect(lows.push);
  await battery.drain(75);
  t.deepEqual(await lows.count(1), [15]);
  // Checked at the door against the declared schema (1-100), before it reaches the battery.
  const refusal = await t.throwsAsync(battery.drain(500), { instanceOf: BadArgumentsError });
  t.like(refusal, { parameter: 'args[0]', message: 'battery.drain: args[0] must be <= 100' });

  // Denied: exactly what the rules deny, each naming what was refused.
  const charge = await t.throwsAsync(battery.charge(), { instanceOf: PermissionDeniedError });
  t.like(charge, { identity: 'tablet', target: { service: 'battery', method: 'charge' } });
  const arm = await tablet.service<Arm>('arm');
  t.is(await arm.move(30), 30);
  await t.throwsAsync(arm.calibrate(), { instanceOf: PermissionDeniedError, message: 'tablet may not use arm.calibrate' });
  await t.throwsAsync(tablet.service(DIRECTORY_NAME), { instanceOf: PermissionDeniedError });
  // Nothing of the inside in what a client is told.
  for (const error of [charge, refusal]) t.false(/gw-robot|unix:|tcp:|\/\d+\/\d+\/\d+/.test(JSON.stringify({ ...error, message: error.message })), JSON.stringify(error));

  // A read-only identity with a client certificate.
  const dashboard = await connect(url, { cert: certs.alice.cert, key: certs.alice.key, ca: certs.ca, onWarning: () => {} });
  t.teardown(() => dashboard.close());
  t.is(dashboard.identity, 'alice');
  const seen = await dashboard.service<Battery>('battery');
  t.is(await seen.level.get(), 15);
  await t.throwsAsync(seen.level.set(100), { instanceOf: PermissionDeniedError, message: 'alice may not use battery.set level' });
  await t.throwsAsync(seen.drain(1), { instanceOf: PermissionDeniedError });

  // Through an HTTP CONNECT proxy (tinyproxy, with proxy authentication).
  const proxy = await startTinyproxy(t, port, 'robot', 's3cret');
  const behindProxy = await connect(url, { token: 'tablet-token', ca: certs.ca, proxy: proxy.replace('http://', 'http://robot:s3cret@'), onWarning: () => {} });
  t.teardown(() => behindProxy.close());
  t.is(await (await behindProxy.service<Arm>('arm')).move(5), 35);
  await t.throwsAsync(connect(url, { token: 'tablet-token', ca: certs.ca, proxy: proxy.replace('http://', 'http://robot:wrong@') }), { instanceOf: UnreachableError, message: /refused CONNECT: 40[17]/ });

  // kill -9 of the gateway's process: its supervisor starts a new one on the same port, and the
  // client comes back by itself, subscriptions included.
  const directory = await robot.service<ServiceDirectory>(DIRECTORY_NAME);
  const { processId } = await directory.lookup('Gateway');
  process.kill(processId, 'SIGKILL');
  await within(reconnected.promise, 'the client to reconnect', 20_000);
  t.is(await battery.drain(5), 10, 'the same handle works again');
  t.deepEqual(await lows.count(2), [15, 10], 'the subscription was made again');
  t.not((await directory.lookup('Gateway')).processId, processId);
});

test('gateways side by side keep to their own listeners; one killed without its onStop binds its port again when restarted', async (t) => {
  const robot = await start({ machineId: 'gw-two', onWarning: () => {} });
  t.teardown(() => robot.stop());
  await robot.spawn(Battery, { name: 'battery' });
  const base = { cert: certs.server.cert, key: certs.server.key, tokens: { tablet: hashToken('tablet-token') }, permissions };
  const endpointOf = async (name: string): Promise<string> => (await robot.service<GatewayService>(name)).endpoint();
  // Two on any free port each: starting the second leaves the first listening.
  await robot.spawn(gateway({ ...base, listen: 'tls://127.0.0.1:0' }), { name: 'GatewayA' });
  await robot.spawn(gateway({ ...base, listen: 'tls://127.0.0.1:0' }), { name: 'GatewayB' });
  for (const name of ['GatewayA', 'GatewayB']) {
    const session = await connect(await endpointOf(name), { token: 'tablet-token', ca: certs.ca, onWarning: () => {} });
    t.is(await (await session.service<Battery>('battery')).level.get(), 100, `${name} answers`);
    await session.close();
  }
  // A fixed port, and a brutal kill (no onStop): the restarted gateway takes its port back.
  const port = await freePort();
  const sup = await robot.supervise(supervisor({ strategy: 'one_for_one', children: [{ id: 'door', name: 'Door', start: gateway({ ...base, listen: `tls://127.0.0.1:${port}` }), shutdown: 'brutal_kill' }] }));
  await sup.terminateChild('door');
  t.not(await sup.restartChild('door'), null);
  const session = await connect(`tls://127.0.0.1:${port}`, { token: 'tablet-token', ca: certs.ca, onWarning: () => {} });
  t.is(await (await session.service<Battery>('battery')).drain(1), 99);
  await session.close();
});
