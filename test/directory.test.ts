import test from 'ava';
import {
  CallTimeoutError,
  ChildStartError,
  DIRECTORY_NAME,
  InvalidArgumentError,
  InvalidChildSpecError,
  NameTakenError,
  NoSuchServiceError,
  Service,
  ServiceError,
  start,
  supervisor,
  type Down,
  type ServiceDirectory,
  type ServiceEvent,
} from '../src/index.js';
import { CHILD_START_MS, Collector, deferred, within } from './_support/wait.js';
import { cliEnv, running } from './_support/cli.js';
import { watchAdded, worker, type TestWorker } from './_support/workers.js';
import { otherMachine } from './_support/machines.js';
import type { Counter } from './fixtures/services.js';

class Idle extends Service {}

async function setup(t: { teardown(fn: () => unknown): void }) {
  const warnings: string[] = [];
  const node = await start({ machineId: 'dir-test', onWarning: (m) => warnings.push(m) });
  t.teardown(() => node.stop());
  const directory = await node.service<ServiceDirectory>(DIRECTORY_NAME);
  return { node, directory, warnings, log: [] as string[] };
}

test('the directory lists itself and every ready service with its info', async (t) => {
  const { node, directory, log } = await setup(t);
  await node.spawn(worker('tts', log), { name: 'tts' });
  const list = await node.services();
  t.deepEqual(list.map((s) => s.name), [DIRECTORY_NAME, 'tts']);
  const tts = await directory.lookup('tts');
  t.like(tts, { name: 'tts', machineId: 'dir-test', processId: process.pid });
  t.regex(tts.address, /^dir-test\/\d+\/\d+\/\d+$/);
  // Its node's endpoints, as libqi's ServiceInfo has them: the thread's port, its Unix socket.
  t.deepEqual(tts.endpoints.map((e) => e.split(':')[0]), ['port', 'unix']);
  t.is(tts.endpoints[0], `port:${process.pid}/0`);
  t.is(list[0]!.serviceId, 1);
});

test('serviceAdded and serviceRemoved follow services starting and stopping', async (t) => {
  const { node, directory, log } = await setup(t);
  const added = new Collector<ServiceEvent>();
  const removed = new Collector<ServiceEvent>();
  await directory.serviceAdded.connect(added.push);
  await directory.serviceRemoved.connect(removed.push);
  const ref = await node.spawn(worker('arm', log), { name: 'arm' });
  const [event] = await added.count(1);
  t.is(event!.name, 'arm');
  await ref!.stop();
  t.deepEqual(await removed.count(1), [event]);
  await t.throwsAsync(directory.lookup('arm'), { instanceOf: NoSuchServiceError });
});

test('a duplicate name is refused with NameTakenError and the first holder keeps it', async (t) => {
  const { node, log } = await setup(t);
  await node.spawn(worker('first', log), { name: 'camera' });
  const error = await t.throwsAsync(node.spawn(worker('second', log), { name: 'camera' }), { instanceOf: ChildStartError });
  t.true(error.cause instanceof NameTakenError);
  t.is((error.cause as NameTakenError).service, 'camera');
  t.false(log.includes('start second'), 'the duplicate never started');
  t.is(await (await node.service<TestWorker>('camera')).ping(), 'first');
});

test('registration is refused for bad names and bad info', async (t) => {
  const { node, directory, log } = await setup(t);
  await t.throwsAsync(node.spawn(worker('x', log), { name: '' }), { instanceOf: InvalidChildSpecError });
  await t.throwsAsync(node.spawn(worker('x', log), { name: 'a'.repeat(257) }), { instanceOf: InvalidChildSpecError });
  await t.throwsAsync(directory.register({ name: 'two words', machineId: 'm', processId: 1, endpoints: [], address: 'm/1/0/9' }), { instanceOf: InvalidArgumentError });
  await t.throwsAsync(directory.register(null as never), { instanceOf: InvalidArgumentError });
  const huge = await t.throwsAsync(directory.register({ name: 'x'.repeat(1_000_000), machineId: 'm', processId: 1, endpoints: [], address: 'm/1/0/9' }), { instanceOf: InvalidArgumentError });
  t.true(huge.message.length < 300, 'an absurd name is cut short in the error');
  t.regex(huge.message, /\(1000000 characters\)/);
  await t.throwsAsync(directory.ready(999), { instanceOf: InvalidArgumentError, message: /no service has id 999/ });
  await t.throwsAsync(directory.updateInfo(1, { endpoints: 'tcp://x' as never }), { instanceOf: InvalidArgumentError });
});

test('two-step registration: a registered service is invisible until ready; its info can be updated', async (t) => {
  const { directory } = await setup(t);
  const id = await directory.register({ name: 'lidar', machineId: 'body', processId: 7, endpoints: [], address: 'body/7/0/3' });
  await t.throwsAsync(directory.lookup('lidar'), { instanceOf: NoSuchServiceError });
  await directory.ready(id);
  await directory.updateInfo(id, { endpoints: ['tcp://10.0.0.2:9559'] });
  t.deepEqual((await directory.lookup('lidar')).endpoints, ['tcp://10.0.0.2:9559']);
  await directory.unregister(id);
  t.false((await directory.list()).some((s) => s.name === 'lidar'));
});

test('a restarted service is registered again under its name, with a new id', async (t) => {
  const { node, directory, log } = await setup(t);
  await node.spawn(worker('legs', log), { name: 'legs' });
  const before = await directory.lookup('legs');
  const back = await watchAdded(node, ['legs']);
  await t.throwsAsync((await node.service<TestWorker>('legs')).crash(), { instanceOf: ServiceError });
  await back.arrived;
  const after = await directory.lookup('legs');
  t.not(after.serviceId, before.serviceId);
  t.not(after.address, before.address);
});

test('when the directory restarts, live services register again on their own; resolved handles keep working meanwhile', async (t) => {
  const { node, directory, log } = await setup(t);
  await node.spawn(worker('head', log), { name: 'head' });
  await node.spawn(worker('victim', log), { name: 'victim' });
  const head = await node.service<TestWorker>('head');
  const dirAddress = (await directory.lookup(DIRECTORY_NAME)).address;
  const victim = (await directory.lookup('victim')).address;
  const dirDown = deferred<Down>();
  node.monitor(dirAddress, dirDown.resolve);
  node.link(victim, dirAddress); // crashing the victim takes the directory down with it
  await t.throwsAsync((await node.service<TestWorker>('victim')).crash());
  await within(dirDown.promise, 'the directory to crash');
  t.is(await head.ping(), 'head', 'a resolved handle does not need the directory');
  const fresh = await within(node.service<ServiceDirectory>(DIRECTORY_NAME), 'the restarted directory');
  t.not((await fresh.lookup(DIRECTORY_NAME)).address, dirAddress);
  const names = new Set<string>();
  while (!names.has('head') || !names.has('victim')) {
    const added = new Collector<ServiceEvent>();
    const sub = await fresh.serviceAdded.connect(added.push);
    for (const s of await fresh.list()) names.add(s.name);
    if (!names.has('head') || !names.has('victim')) await added.count(1);
    sub.off();
  }
  t.is(await (await node.service<TestWorker>('head')).ping(), 'head');
});

test("another node's services come back on their own when the directory it uses restarts; a serviceAdded subscription resumes", async (t) => {
  const { node, directory, log } = await setup(t);
  const added = new Collector<ServiceEvent>();
  await directory.serviceAdded.connect(added.push);
  const { child } = await otherMachine(t, { machineId: 'dir-test', directory: node.endpoints.find((e) => e.startsWith('unix:'))!, listen: '', service: 'arm' });
  const registeredAgain = deferred();
  child.on('message', (m) => /registered 1 of 1 service\(s\) again/.test((m as { warning?: string }).warning ?? '') && registeredAgain.resolve());
  t.deepEqual((await added.count(1)).map((e) => e.name), ['arm']);
  const arm = await node.service<Counter>('arm');

  // Crash the directory (through a link with a victim); its supervisor restarts it.
  await node.spawn(worker('victim', log), { name: 'victim' });
  const dirAddress = (await directory.lookup(DIRECTORY_NAME)).address;
  const dirDown = deferred<Down>();
  node.monitor(dirAddress, dirDown.resolve);
  node.link((await directory.lookup('victim')).address, dirAddress);
  await t.throwsAsync((await node.service<TestWorker>('victim')).crash());
  await within(dirDown.promise, 'the directory to crash');
  t.is(await arm.add(1), 1, 'a resolved handle does not need the directory');

  // The other node registers 'arm' again with the new directory, on its own.
  await within(registeredAgain.promise, "the other node to register 'arm' again", 15_000);
  t.true((await directory.list()).some((s) => s.name === 'arm'));
  t.not((await directory.lookup(DIRECTORY_NAME)).address, dirAddress, 'the same handle reaches the new directory');
  // The subscription made before the restart hears services added after it.
  const seen = added.values.length;
  await node.spawn(worker('late', log), { name: 'late' });
  while (!added.values.slice(seen).some((e) => e.name === 'late')) await added.count(added.values.length + 1, "serviceAdded for 'late'");
  t.is(await (await node.service<Counter>('arm')).add(1), 2);
});

test('the directory bound is the node\'s to set (directoryCapacity): past it a spawn with a name is refused, naming the bound', async (t) => {
  await t.throwsAsync(start({ directoryCapacity: 0 }), { instanceOf: InvalidArgumentError, message: /directoryCapacity/ });
  await t.throwsAsync(start({ directoryCapacity: 1.5 }), { instanceOf: InvalidArgumentError, message: /directoryCapacity/ });
  const node = await start({ machineId: 'capacity', directoryCapacity: 3, onWarning: () => {} });
  t.teardown(() => node.stop());
  const log: string[] = [];
  // The directory's own entry is the first of the three.
  await node.spawn(worker('a', log), { name: 'a' });
  await node.spawn(worker('b', log), { name: 'b' });
  const refused = await t.throwsAsync(node.spawn(worker('c', log), { name: 'c' }), { instanceOf: ChildStartError });
  t.regex(String((refused as Error & { cause?: Error }).cause?.message), /maximum of 3 services \(directoryCapacity\)/);
  await node.spawn(worker('unnamed', log));
  t.deepEqual((await node.services()).map((s) => s.name).sort(), ['ServiceDirectory', 'a', 'b']);
});

test('a flood of registrations stops at the directory bound with a typed error naming it; the directory stays up', async (t) => {
  const { directory } = await setup(t);
  const info = (i: number) => ({ name: `flood-${i}`, machineId: 'm', processId: 1, endpoints: [], address: `m/1/0/${i + 10}` });
  let refused: unknown;
  for (let i = 0; refused === undefined; i += 1000) {
    const batch = await Promise.allSettled(Array.from({ length: 1000 }, (_, k) => directory.register(info(i + k))));
    refused = batch.find((r) => r.status === 'rejected')?.reason;
    if (i > 200_000) break;
  }
  t.true(refused instanceof InvalidArgumentError);
  t.regex((refused as Error).message, /maximum of 100000 services/);
  t.is((await directory.lookup(DIRECTORY_NAME)).name, DIRECTORY_NAME, 'it still answers');
  // Entries that never became ready are not listed.
  t.is((await directory.list()).length, 1);
});

test('a supervisor with more named children than the directory\'s mailbox holds stops without leaving a name behind; the names can be taken again', async (t) => {
  // 12,000 releases at once: one unregister each overflowed the directory's mailbox (10,000) and
  // left 2,000 names held by stopped actors.
  const { node, warnings } = await setup(t);
  const count = 12_000;
  const spawnAll = async () => {
    const sup = await node.supervise(supervisor({ strategy: 'dynamic' }), { id: 'people' });
    for (let i = 0; i < count; i++) await sup.startChild({ start: Idle, name: `person-${i}` });
    return sup;
  };
  const sup = await spawnAll();
  t.is((await node.services()).length, count + 1);
  await sup.stop();
  t.deepEqual((await node.services()).map((s) => s.name), [DIRECTORY_NAME]);
  t.deepEqual(warnings, []);
  // The same names again, in a supervisor of the same id.
  const again = await spawnAll();
  t.is((await node.services()).length, count + 1);
  await again.stop();
});

test('named services spawned while the directory has look-ups queued all register, each once, and are found; a name taken meanwhile is still refused', async (t) => {
  // A named start is answered in the caller's turn only when the directory is idle. Here the
  // directory has more look-ups waiting than it handles in one turn (it yields to I/O after
  // 1,024), so the first registration of each supervisor meets a full mailbox and queues behind them.
  const { node, directory } = await setup(t);
  const sups = await Promise.all(Array.from({ length: 20 }, (_, i) => node.supervise(supervisor({ strategy: 'dynamic' }), { id: `room-${i}` })));
  const lookups: Promise<unknown>[] = [];
  for (let i = 0; i < 5_000; i++) lookups.push(directory.lookup(DIRECTORY_NAME));
  await lookups[0]; // answered in the first turn; the rest wait for the next ones
  const starts: Promise<unknown>[] = [];
  for (let i = 0; i < 200; i++) starts.push(sups[i % 20]!.startChild({ start: Idle, name: `person-${i}` }));
  for (let i = 200; i < 220; i++) starts.push(node.spawn(Idle, { name: `person-${i}` }));
  const taken = node.spawn(Idle, { name: 'person-0' });
  await Promise.all(starts);
  const refused = await t.throwsAsync(taken, { instanceOf: ChildStartError });
  t.true(refused.cause instanceof NameTakenError);
  t.is((await Promise.all(lookups)).length, 5_000);
  const names = (await node.services()).map((s) => s.name).filter((name) => name.startsWith('person-'));
  t.is(new Set(names).size, 220);
  for (const name of ['person-0', 'person-19', 'person-20', 'person-199', 'person-219']) t.like(await directory.lookup(name), { name });
  await Promise.all(sups.map((sup) => sup.stop()));
  t.is((await node.services()).filter((s) => s.name.startsWith('person-')).length, 20, 'the services spawned on the node stay');
});

test('a service that started but was never made visible (its directory did not answer ready in time) is stopped, and its name is free again', async (t) => {
  const directory = running(t, cliEnv(), 'directory', '--listen', 'tcp:127.0.0.1:0', '--json');
  const listening = JSON.parse(await directory.line('stdout', /"listening"/, CHILD_START_MS)) as { endpoints: string[] };
  const pid = directory.child.pid!;
  const node = await start({ machineId: 'late-ready', directory: listening.endpoints.find((e) => e.startsWith('tcp:'))!, callTimeout: 500, onWarning: () => {} });
  t.teardown(() => node.stop());
  const starting = deferred();
  const release = deferred();
  const stopped = deferred<unknown>();
  class SlowStart extends Service {
    override async onStart(): Promise<void> {
      starting.resolve();
      await release.promise;
    }
    override onStop(reason: unknown): void {
      stopped.resolve(reason);
    }
  }
  const spawn = node.spawn(SlowStart, { name: 'slow' });
  await within(starting.promise, 'the service to start, its name registered');
  // The directory stops answering between the two steps: `ready` gets no answer in time.
  process.kill(pid, 'SIGSTOP');
  t.teardown(() => void process.kill(pid, 'SIGCONT'));
  release.resolve();
  await t.throwsAsync(spawn, { instanceOf: CallTimeoutError });
  t.is(await within(stopped.promise, 'the service to be stopped'), 'shutdown');
  process.kill(pid, 'SIGCONT');
  t.truthy(await node.spawn(Idle, { name: 'slow' }), 'the name is free for the next start');
  t.is((await node.services()).filter((s) => s.name === 'slow').length, 1);
});
