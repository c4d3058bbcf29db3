import test from 'ava';
import { createServer } from 'node:net';
import { InvalidArgumentError, InvalidChildSpecError, Service, start, UnreachableError } from '../src/index.js';

class Echo extends Service {
  echo<T>(x: T): T {
    return x;
  }
}

test('a node takes its machine id and call timeout from options, then the environment', async (t) => {
  const a = await start({ machineId: 'head', callTimeout: 1234 });
  t.teardown(() => a.stop());
  t.is(a.machineId, 'head');
  t.is(a.callTimeout, 1234);
  t.is(a.processId, process.pid);
  const b = await start({ env: { QIACT_MACHINE_ID: 'body', QIACT_CALL_TIMEOUT_MS: '250', QIACT_SECRET: 'the secret of this robot', HOME: '/nonexistent' } });
  t.teardown(() => b.stop());
  t.is(b.machineId, 'body');
  t.is(b.callTimeout, 250);
  await t.throwsAsync(start({ env: { QIACT_MACHINE_ID: 'x', QIACT_CALL_TIMEOUT_MS: 'soon' } }), { instanceOf: InvalidArgumentError });
  await t.throwsAsync(start({ env: { QIACT_MACHINE_ID: 'x', QIACT_MAX_MESSAGE_BYTES: 'lots' } }), { instanceOf: InvalidArgumentError, message: /maxMessageBytes.*lots/ });
});

test('a directory that cannot be reached fails the start with a typed error naming where', async (t) => {
  const closed = await freePort();
  await t.throwsAsync(start({ directoryWait: 0, env: { QIACT_MACHINE_ID: 'x', QIACT_DIRECTORY: `tcp://127.0.0.1:${closed}` } }), {
    instanceOf: UnreachableError,
    message: new RegExp(`127\\.0\\.0\\.1:${closed}.*ECONNREFUSED`),
  });
  await t.throwsAsync(start({ machineId: 'x', directory: 'carrier-pigeon:42' }), { instanceOf: InvalidArgumentError, message: /must be unix:\/path, tcp:host:port or tls:host:port/ });
});

test('placing a service in a worker or process needs the module that exports it', async (t) => {
  const node = await start({ machineId: 'node-test' });
  t.teardown(() => node.stop());
  await t.throwsAsync(node.spawn(Echo, { name: 'echo', in: 'worker' }), { instanceOf: InvalidChildSpecError, message: /field 'module' is needed with in: 'worker'/ });
  const ref = await node.spawn(Echo);
  t.regex(ref!.id, /^Echo-\d+$/);
  t.is(ref!.name, undefined);
});

test('two nodes in one thread are independent: own directory, own services', async (t) => {
  const a = await start({ machineId: 'n1' });
  const b = await start({ machineId: 'n2' });
  t.teardown(() => Promise.all([a.stop(), b.stop()]));
  await a.spawn(Echo, { name: 'echo' });
  await b.spawn(Echo, { name: 'echo' });
  t.is(await (await a.service<Echo>('echo')).echo('a'), 'a');
  t.deepEqual((await b.services()).map((s) => s.machineId), ['n2', 'n2']);
});

/** A TCP port nothing listens on (bound, then released). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
