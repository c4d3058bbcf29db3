/**
 * Supervision as Erlang/OTP defines it: the scenarios of stdlib's supervisor_SUITE (start
 * normal / ignore / fail, child administration, restart types, strategies, intensity and
 * escalation, nested trees, shutdown with timeout and brutal kill, a restart loop that keeps
 * the supervisor responsive), through qiact's public API.
 */
import test from 'ava';
import {
  ChildRunningError,
  ChildStartError,
  InvalidArgumentError,
  InvalidChildSpecError,
  ManualClock,
  MAX_TREE_WORKERS,
  NoSuchChildError,
  NoSuchServiceError,
  NodeStoppedError,
  ReceiverStoppedError,
  RestartIntensityError,
  Service,
  ServiceError,
  routeOf,
  start,
  supervisor,
  type ChildSpec,
  type Down,
  type StartOptions,
  type TreeDown,
} from '../src/index.js';
import { Collector, deferred, within } from './_support/wait.js';
import { Counter, MODULE } from './fixtures/services.js';
import { watchAdded, worker, type TestWorker } from './_support/workers.js';

async function node(t: { teardown(fn: () => unknown): void }, options: StartOptions = {}) {
  const warnings: string[] = [];
  const n = await start({ machineId: 'sup-test', onWarning: (m) => warnings.push(m), ...options });
  t.teardown(() => n.stop());
  return Object.assign(n, { warnings });
}

/** A child that only exists: what most of a big dynamic supervisor's children are. */
class Idle extends Service {}

const spec = (id: string, log: string[], extra: Partial<ChildSpec> = {}, hooks = {}): ChildSpec => ({ id, name: id, start: worker(id, log, hooks), ...extra });

const addresses = async (sup: { whichChildren(): Promise<{ id: string; address: string | null }[]> }) =>
  Object.fromEntries((await sup.whichChildren()).map((c) => [c.id, c.address]));

// ---- starting ----

test('start normal: children start in order and are reported by whichChildren', async (t) => {
  const n = await node(t);
  const log: string[] = [];
  const sup = await n.supervise(supervisor({ children: [spec('a', log), spec('b', log), spec('c', log)] }));
  t.deepEqual(log, ['start a', 'start b', 'start c']);
  const children = await sup.whichChildren();
  t.deepEqual(children.map((c) => c.id), ['a', 'b', 'c']);
  t.true(children.every((c) => c.address !== null && c.type === 'worker' && c.restart === 'permanent' && c.in === 'thread'));
  t.deepEqual(await sup.countChildren(), { specs: 3, active: 3, supervisors: 0, workers: 3 });
});

test("start ignore: a child that declines is kept as a spec but not running", async (t) => {
  const n = await node(t);
  const log: string[] = [];
  const sup = await n.supervise(supervisor({ children: [spec('a', log), spec('b', log, {}, { start: () => 'ignore' })] }));
  t.deepEqual(await addresses(sup), { a: (await sup.whichChildren())[0]!.address, b: null });
  t.deepEqual(await sup.countChildren(), { specs: 2, active: 1, supervisors: 0, workers: 2 });
});

test('start fail: the supervisor does not start, names the child, and stops the ones already started in reverse', async (t) => {
  const n = await node(t);
  const log: string[] = [];
  const failing = spec('c', log, {}, {
    start: () => {
      throw new Error('no camera');
    },
  });
  const error = await t.throwsAsync(n.supervise(supervisor({ children: [spec('a', log), spec('b', log), failing] })), { instanceOf: ChildStartError });
  t.is(error.childId, 'c');
  t.regex(error.message, /child 'c' failed to start: no camera/);
  t.deepEqual(log, ['start a', 'start b', 'start c', 'stop b', 'stop a']);
  t.deepEqual((await n.services()).map((s) => s.name), ['ServiceDirectory'], 'nothing left registered');
});

// ---- child specs and administration ----

test('bad child and supervisor specs are refused up front, naming the field', (t) => {
  const log: string[] = [];
  const cases: [() => unknown, string][] = [
    [() => supervisor({ children: [{ id: '', start: worker('x', log) }] }), 'id'],
    [() => supervisor({ children: [{ id: 'x', start: (() => 1) as never }] }), 'start'],
    [() => supervisor({ children: [{ ...spec('x', log), restart: 'sometimes' as never }] }), 'restart'],
    [() => supervisor({ children: [{ ...spec('x', log), shutdown: -1 }] }), 'shutdown'],
    [() => supervisor({ children: [{ ...spec('x', log), name: 'has space' }] }), 'name'],
    [() => supervisor({ children: [{ ...spec('x', log), in: 'cloud' as never }] }), 'in'],
    [() => supervisor({ children: [spec('x', log), spec('x', log)] }), 'id'],
    [() => supervisor({ strategy: 'one_for_some' as never }), 'strategy'],
    [() => supervisor({ intensity: -1 }), 'intensity'],
    [() => supervisor({ period: 0 }), 'period'],
    [() => supervisor({ strategy: 'dynamic', children: [spec('x', log)] }), 'children'],
  ];
  for (const [make, field] of cases) {
    const error = t.throws(make, { instanceOf: InvalidChildSpecError });
    t.is(error?.field, field, error?.message);
  }
});

test('child administration: startChild, terminateChild, restartChild, deleteChild and their errors', async (t) => {
  const n = await node(t);
  const log: string[] = [];
  const sup = await n.supervise(supervisor({ children: [spec('a', log)] }));
  t.truthy(await sup.startChild(spec('b', log)));
  await t.throwsAsync(sup.startChild(spec('b', log)), { instanceOf: InvalidChildSpecError, message: /already used/ });
  await t.throwsAsync(sup.terminateChild('zz'), { instanceOf: NoSuchChildError, message: /has no child 'zz'/ });
  t.like(await t.throwsAsync(sup.deleteChild('b'), { instanceOf: ChildRunningError, message: /'b' is running/ }), { childId: 'b', code: 'CHILD_RUNNING' });
  await t.throwsAsync(sup.restartChild('b'), { instanceOf: ChildRunningError });
  const before = (await addresses(sup)).b;
  await sup.terminateChild('b');
  t.is((await addresses(sup)).b, null, 'a terminated child keeps its spec');
  const again = await sup.restartChild('b');
  t.truthy(again);
  t.not(again, before);
  await sup.terminateChild('b');
  await sup.deleteChild('b');
  t.deepEqual(Object.keys(await addresses(sup)), ['a']);
  await t.throwsAsync(sup.restartChild('b'), { instanceOf: NoSuchChildError });
  await t.throwsAsync(sup.startChild({ ...spec('c', log), restart: 'never' as never }), { instanceOf: InvalidChildSpecError });
});

// ---- restart types ----

test('permanent: restarted after a crash and after a normal exit', async (t) => {
  const n = await node(t);
  const log: string[] = [];
  const sup = await n.supervise(supervisor({ intensity: 5, children: [spec('p', log)] }));
  const p = await n.service<TestWorker>('p');
  let back = await watchAdded(n, ['p']);
  await t.throwsAsync(p.crash(), { instanceOf: ServiceError });
  await back.arrived;
  back = await watchAdded(n, ['p']);
  await p.quit();
  await back.arrived;
  t.is(await p.ping(), 'p');
  t.is((await sup.whichChildren())[0]!.restarts, 2);
});

test('transient: restarted after a crash, not after a normal exit', async (t) => {
  const n = await node(t);
  const log: string[] = [];
  const sup = await n.supervise(supervisor({ intensity: 5, children: [spec('tr', log, { restart: 'transient' })] }));
  const tr = await n.service<TestWorker>('tr');
  const back = await watchAdded(n, ['tr']);
  await t.throwsAsync(tr.crash());
  await back.arrived;
  const gone = deferred<Down>();
  n.monitor((await addresses(sup)).tr!, gone.resolve);
  await tr.quit();
  t.is((await within(gone.promise, 'the transient child to exit')).reason, 'normal');
  t.deepEqual(await addresses(sup), { tr: null });
});

test('temporary: never restarted, and dropped from the children', async (t) => {
  const n = await node(t);
  const log: string[] = [];
  const sup = await n.supervise(supervisor({ children: [spec('tmp', log, { restart: 'temporary' }), spec('keep', log)] }));
  const gone = deferred<Down>();
  n.monitor((await addresses(sup)).tmp!, gone.resolve);
  await t.throwsAsync((await n.service<TestWorker>('tmp')).crash());
  t.true((await within(gone.promise, 'the temporary child to exit')).reason instanceof Error);
  t.deepEqual(Object.keys(await addresses(sup)), ['keep']);
});

// ---- strategies ----

test('one_for_one: only the child that died is restarted', async (t) => {
  const n = await node(t);
  const log: string[] = [];
  const sup = await n.supervise(supervisor({ strategy: 'one_for_one', children: [spec('a', log), spec('b', log), spec('c', log)] }));
  const before = await addresses(sup);
  const back = await watchAdded(n, ['b']);
  await t.throwsAsync((await n.service<TestWorker>('b')).crash());
  await back.arrived;
  const after = await addresses(sup);
  t.is(after.a, before.a);
  t.not(after.b, before.b);
  t.is(after.c, before.c);
});

test('one_for_all: all children are restarted, the others stopped in reverse first, all started in order', async (t) => {
  const n = await node(t);
  const log: string[] = [];
  const sup = await n.supervise(supervisor({ strategy: 'one_for_all', children: [spec('a', log), spec('b', log), spec('c', log)] }));
  const before = await addresses(sup);
  log.length = 0;
  const back = await watchAdded(n, ['a', 'b', 'c']);
  await t.throwsAsync((await n.service<TestWorker>('b')).crash());
  await back.arrived;
  t.deepEqual(log, ['stop b', 'stop c', 'stop a', 'start a', 'start b', 'start c'], 'onStop runs on the crash too');
  const after = await addresses(sup);
  for (const id of ['a', 'b', 'c']) t.not(after[id], before[id]);
});

test('rest_for_one: the child that died and those started after it are restarted', async (t) => {
  const n = await node(t);
  const log: string[] = [];
  const sup = await n.supervise(supervisor({ strategy: 'rest_for_one', children: [spec('a', log), spec('b', log), spec('c', log)] }));
  const before = await addresses(sup);
  log.length = 0;
  const back = await watchAdded(n, ['b', 'c']);
  await t.throwsAsync((await n.service<TestWorker>('b')).crash());
  await back.arrived;
  t.deepEqual(log, ['stop b', 'stop c', 'start b', 'start c']);
  const after = await addresses(sup);
  t.is(after.a, before.a);
  t.not(after.b, before.b);
  t.not(after.c, before.c);
});

// ---- intensity and escalation ----

test('intensity exceeded: the supervisor stops its children and exits with RestartIntensityError', async (t) => {
  const n = await node(t);
  const log: string[] = [];
  const sup = await n.supervise(supervisor({ intensity: 1, period: 60_000, children: [spec('a', log), spec('flaky', log)] }));
  const down = deferred<Down>();
  n.monitor(sup, down.resolve);
  const flaky = await n.service<TestWorker>('flaky');
  const back = await watchAdded(n, ['flaky']);
  await t.throwsAsync(flaky.crash());
  await back.arrived;
  await t.throwsAsync(flaky.crash());
  const { reason } = await within(down.promise, 'the supervisor to give up');
  t.true(reason instanceof RestartIntensityError);
  t.like(reason, { maxRestarts: 1, periodMs: 60_000, lastChild: 'flaky' });
  t.true(log.includes('stop a'), 'its other children were stopped');
});

test('escalation: a nested supervisor that gives up is restarted by its parent, children and all', async (t) => {
  const n = await node(t);
  const log: string[] = [];
  const inner = supervisor({ intensity: 0, children: [spec('w', log)] });
  const outer = await n.supervise(supervisor({ intensity: 3, children: [{ id: 'inner', start: inner }, spec('sibling', log)] }));
  const before = await addresses(outer);
  const back = await watchAdded(n, ['w']);
  await t.throwsAsync((await n.service<TestWorker>('w')).crash());
  await back.arrived;
  const after = await addresses(outer);
  t.not(after.inner, before.inner, 'the inner supervisor was restarted');
  t.is(after.sibling, before.sibling, 'one_for_one: the sibling was left alone');
  t.is((await outer.whichChildren())[0]!.restarts, 1);
  t.is(await (await n.service<TestWorker>('w')).ping(), 'w');
});

// ---- each spawned service and each supervised tree has its own fate ----

test('a tree whose supervisor gives up is stopped alone and reported; other trees and services run on untouched', async (t) => {
  const down = deferred<TreeDown>();
  const n = await node(t, { onTreeDown: down.resolve });
  const log: string[] = [];
  const calm = await n.supervise(supervisor({ children: [spec('calm', log)] }), { id: 'calm-tree' });
  const alone = await n.spawn(worker('alone', log), { name: 'alone' });
  const before = { calm: (await addresses(calm)).calm, alone: alone!.address.text };
  await n.supervise(supervisor({ intensity: 0, children: [spec('loops', log)] }), { id: 'looping-tree' });
  await t.throwsAsync((await n.service<TestWorker>('loops')).crash());
  const event = await within(down.promise, 'onTreeDown for the looping tree');
  t.like(event, { id: 'looping-tree', type: 'supervisor', label: 'supervisor(one_for_one)', why: 'its supervisor gave up' });
  t.true(event.reason instanceof RestartIntensityError);
  const services = (await n.tree()).children!.find((c) => c.id === 'services')!;
  t.deepEqual(services.children!.map((c) => c.id), ['calm-tree', alone!.id], 'the given-up tree is no longer in the node tree');
  t.is((await addresses(calm)).calm, before.calm, 'the other tree was not restarted');
  t.is(alone!.address.text, before.alone, 'the spawned service was not restarted');
  t.is(await (await n.service<TestWorker>('alone')).ping(), 'alone');
  await t.throwsAsync(n.service('loops'), { instanceOf: NoSuchServiceError });
});

test('a spawned service restarted more often than servicesIntensity allows is given up alone; the others keep their runs', async (t) => {
  const down = deferred<TreeDown>();
  const n = await node(t, { servicesIntensity: { intensity: 2, period: 60_000 }, onTreeDown: down.resolve });
  const log: string[] = [];
  const neighbour = await n.spawn(worker('neighbour', log), { name: 'neighbour' });
  const first = neighbour!.address.text;
  await n.spawn(worker('flaky', log), { name: 'flaky', id: 'flaky-1' });
  for (let i = 0; i < 3; i++) {
    const back = i < 2 ? await watchAdded(n, ['flaky']) : null;
    await t.throwsAsync((await n.service<TestWorker>('flaky')).crash());
    await back?.arrived;
  }
  const event = await within(down.promise, 'onTreeDown for the flaky service');
  t.like(event, { id: 'flaky-1', name: 'flaky', type: 'worker', restarts: 2, why: 'it was restarted more than 2 times in 60000 ms' });
  t.is(event.reason.message, 'flaky crashed');
  t.is(neighbour!.address.text, first, 'the neighbour still runs its first run');
  // A second flaky service has a window of its own, not one shared with the first.
  await n.spawn(worker('flaky', log), { name: 'flaky', id: 'flaky-2' });
  const back = await watchAdded(n, ['flaky']);
  await t.throwsAsync((await n.service<TestWorker>('flaky')).crash());
  await back.arrived;
  t.is(await (await n.service<TestWorker>('flaky')).ping(), 'flaky');
});

test('a critical tree that gives up takes the node down (onDown), as an OTP permanent application does', async (t) => {
  const gone = deferred<Error>();
  const told: TreeDown[] = [];
  const n = await node(t, { onDown: gone.resolve, onTreeDown: (e) => told.push(e) });
  const log: string[] = [];
  await n.supervise(supervisor({ intensity: 0, children: [spec('arm', log)] }), { id: 'arm-tree', critical: true });
  await t.throwsAsync((await n.service<TestWorker>('arm')).crash());
  const reason = await within(gone.promise, 'the node to go down');
  t.true(reason instanceof RestartIntensityError);
  t.deepEqual(told, [], 'a critical tree takes the node down instead of being reported');
  t.true(n.warnings.some((w) => /critical tree 'arm-tree' .* was given up: its supervisor gave up; this node is down/.test(w)));
  await t.throwsAsync(n.service('arm'), { instanceOf: NodeStoppedError });
});

test('multiple restarts: intensity is a sliding window over time', async (t) => {
  const clock = new ManualClock();
  const gaveUp = deferred<TreeDown>();
  const n = await node(t, { clock, onTreeDown: gaveUp.resolve });
  const log: string[] = [];
  const sup = await n.supervise(supervisor({ intensity: 2, period: 1000, children: [spec('w', log)] }));
  const down = deferred<Down>();
  n.monitor(sup, down.resolve);
  const w = await n.service<TestWorker>('w');
  const crashAt = async (time: number) => {
    clock.advance(time - clock.now());
    const back = await watchAdded(n, ['w']);
    await t.throwsAsync(w.crash());
    await back.arrived;
  };
  await crashAt(0);
  await crashAt(500);
  await crashAt(1200); // the restart at 0 has left the window: 2 in it
  clock.advance(100);
  await t.throwsAsync(w.crash()); // 500, 1200, 1300: three within 1000 ms
  const { reason } = await within(down.promise, 'the supervisor to give up');
  t.true(reason instanceof RestartIntensityError);
  t.is((await within(gaveUp.promise, 'onTreeDown')).reason, reason as Error, "the tree is given up with its supervisor's reason");
});

// ---- shutdown ----

test('shutdown: children stop in reverse start order, each awaited; a stopped supervisor rejects requests', async (t) => {
  const n = await node(t);
  const log: string[] = [];
  const sup = await n.supervise(supervisor({ children: [spec('a', log), spec('b', log), spec('c', log)] }));
  log.length = 0;
  await sup.stop();
  t.deepEqual(log, ['stop c', 'stop b', 'stop a']);
  const asked = sup.whichChildren(); // must not throw here
  await t.throwsAsync(asked, { instanceOf: InvalidArgumentError, message: /is not running/ });
});

test('shutdown timeout: a child that does not stop in time is killed; brutal_kill does not wait at all', async (t) => {
  const n = await node(t);
  const log: string[] = [];
  const never = { stop: () => new Promise<void>(() => {}) };
  const sup = await n.supervise(
    supervisor({
      children: [spec('slow', log, { shutdown: 30 }, never), spec('brutal', log, { shutdown: 'brutal_kill' }, never)],
    }),
  );
  const { slow, brutal } = await addresses(sup);
  const slowDown = deferred<Down>();
  const brutalDown = deferred<Down>();
  n.monitor(slow!, slowDown.resolve);
  n.monitor(brutal!, brutalDown.resolve);
  log.length = 0;
  await within(sup.stop(), 'the supervisor to stop despite a child that never finishes onStop');
  t.deepEqual(log, ['stop slow'], 'brutal_kill never ran onStop');
  t.is((await within(slowDown.promise, 'slow to exit')).reason, 'killed');
  t.is((await within(brutalDown.promise, 'brutal to exit')).reason, 'killed');
});

// ---- a restart loop ----

/** A supervisor over one child 'loop' whose start fails while `breaker.broken` is set. */
async function loopingTree(n: Awaited<ReturnType<typeof node>>, intensity: number) {
  const log: string[] = [];
  const breaker = { broken: false };
  const start = () => {
    if (breaker.broken) throw new Error('still broken');
  };
  const sup = await n.supervise(supervisor({ intensity, period: 60_000, children: [spec('loop', log, {}, { start })] }));
  return { sup, log, breaker };
}

test('a restart that keeps failing is retried through the mailbox: the supervisor answers meanwhile, then recovers', async (t) => {
  const n = await node(t);
  const { sup, breaker } = await loopingTree(n, 1_000_000);
  breaker.broken = true;
  const back = await watchAdded(n, ['loop']);
  await t.throwsAsync((await n.service<TestWorker>('loop')).crash());
  const during = await within(sup.whichChildren(), 'the supervisor to answer while it loops');
  t.is(during[0]!.address, null);
  t.true(n.warnings.some((w) => /restart of 'loop' failed; trying again/.test(w)));
  breaker.broken = false;
  await back.arrived;
  t.is(await (await n.service<TestWorker>('loop')).ping(), 'loop');
});

test('a restart loop ends when the intensity is reached', async (t) => {
  const n = await node(t);
  const { sup, log, breaker } = await loopingTree(n, 5);
  const down = deferred<Down>();
  n.monitor(sup, down.resolve);
  breaker.broken = true;
  await t.throwsAsync((await n.service<TestWorker>('loop')).crash());
  t.true((await within(down.promise, 'the supervisor to give up')).reason instanceof RestartIntensityError);
  t.is(log.filter((l) => l === 'start loop').length, 6, 'one first start and five failed restarts');
});

// ---- dynamic supervisors and trees ----

test('serviceAt: a handle by address reaches an unnamed child, here or in a worker, and does not follow it through a restart', async (t) => {
  const n = await node(t);
  const sup = await n.supervise(supervisor({ strategy: 'dynamic' }));
  const here = (await sup.startChild({ start: Counter }))!;
  const there = (await sup.startChild({ start: Counter, in: 'worker', module: MODULE }))!;
  const a = await n.serviceAt<Counter>(here.address);
  const b = await n.serviceAt<Counter>(there.address);
  t.is(await a.add(2), 2);
  t.is(await b.add(5), 5);
  t.deepEqual([routeOf(a).path, routeOf(b).path], ['direct', 'port']);
  const seen = new Collector<number>();
  const sub = await a.changed.connect(seen.push);
  t.is(await a.add(1), 3);
  t.deepEqual(await seen.count(1), [3]);
  // It crashes; its supervisor starts a new one at a new address. The old handle is the old actor's.
  await t.throwsAsync(a.crash(), { instanceOf: ServiceError });
  const stopped = await t.throwsAsync(a.add(1), { instanceOf: ReceiverStoppedError });
  t.like(stopped?.target, { address: here.address, method: 'add' });
  t.not(await within(sub.ended, 'the subscription to end with its actor'), 'unsubscribed');
  a.add.post(1); // goes nowhere, and says nothing
  const now = (await sup.whichChildren()).find((c) => c.id === here.id)!.address!;
  t.not(now, here.address);
  t.is(await (await n.serviceAt<Counter>(now)).add(1), 1, 'the new actor, with fresh state');
  t.is(await b.add(1), 6, 'the other child is untouched');
  const nobody = `${n.machineId}/${n.processId}/${n.threadId}/999999`;
  t.like(await t.throwsAsync(n.serviceAt(nobody), { instanceOf: ReceiverStoppedError }), { reason: 'noproc' });
});

test('dynamic: children are added at run time, removed when they end, and stopped in parallel', async (t) => {
  const n = await node(t);
  const log: string[] = [];
  const sup = await n.supervise(supervisor({ strategy: 'dynamic' }));
  const gates = [deferred(), deferred()];
  const stopping = [deferred(), deferred()];
  for (const i of [0, 1]) {
    await sup.startChild({
      name: `d${i}`,
      restart: 'transient',
      start: worker(`d${i}`, log, {
        stop: () => {
          stopping[i]!.resolve();
          return gates[i]!.promise;
        },
      }),
    });
  }
  const started = await sup.startChild({ name: 'd2', restart: 'transient', start: worker('d2', log) });
  t.regex(started!.id, /^child-\d+$/, 'the generated id comes back with the address');
  t.like((await sup.whichChildren()).find((c) => c.id === started!.id), { address: started!.address });
  t.is((await sup.countChildren()).active, 3);
  const gone = deferred<Down>();
  n.monitor((await sup.whichChildren())[2]!.address!, gone.resolve);
  await (await n.service<TestWorker>('d2')).quit();
  await within(gone.promise, 'd2 to quit');
  t.is((await sup.whichChildren()).length, 2, 'a transient child that ended normally is removed');
  const stopped = sup.stop();
  await within(Promise.all(stopping.map((s) => s.promise)), 'both children to be asked to stop at once');
  gates.forEach((g) => g.resolve());
  await stopped;
});

test('dynamic: an id of the generated form given by hand is never generated again', async (t) => {
  const n = await node(t);
  const sup = await n.supervise(supervisor({ strategy: 'dynamic' }));
  const first = (await sup.startChild({ start: Counter }))!;
  t.is(first.id, 'child-1');
  // By hand: the next id the supervisor would generate, and one further on.
  await sup.startChild({ id: 'child-2', start: Counter });
  await sup.startChild({ id: 'child-7', start: Counter });
  const generated = [];
  for (let i = 0; i < 3; i++) generated.push((await sup.startChild({ start: Counter }))!.id);
  t.deepEqual(generated, ['child-8', 'child-9', 'child-10']);
  t.deepEqual((await sup.whichChildren()).map((c) => c.id), ['child-1', 'child-2', 'child-7', 'child-8', 'child-9', 'child-10']);
  await t.throwsAsync(sup.startChild({ id: 'child-7', start: Counter }), { instanceOf: InvalidChildSpecError, message: /already used/ });
});

test('a dynamic supervisor with 100,000 children restarts the one that crashed, and only that one', async (t) => {
  t.timeout(120_000, '100,000 children are started one after another');
  const n = await node(t);
  const sup = await n.supervise(supervisor({ strategy: 'dynamic' }));
  const log: string[] = [];
  const first = new Map<string, string>();
  const COUNT = 100_000;
  for (let i = 0; i < COUNT; i++) {
    // One named child in the middle, to crash through a handle; the others are unnamed.
    const started = await sup.startChild(i === COUNT / 2 ? { name: 'victim', start: worker('victim', log) } : { start: Idle });
    first.set(started!.id, started!.address);
  }
  const victim = await n.service<TestWorker>('victim');
  const victimId = [...first].find(([, address]) => address === routeOf(victim).address)![0];
  await t.throwsAsync(victim.crash(), { instanceOf: ServiceError });
  // The restarted victim answers by name; every other child still runs its first run.
  t.is(await victim.ping(), 'victim');
  const now = await sup.whichChildren();
  t.is(now.length, COUNT);
  const moved = now.filter((c) => c.address !== first.get(c.id)).map((c) => c.id);
  t.deepEqual(moved, [victimId]);
  t.is(now.find((c) => c.id === victimId)!.restarts, 1);
  t.deepEqual(log, ['start victim', 'stop victim', 'start victim'], 'its onStop ran after the crash, as OTP terminate/2 does');

  // The node's tree (what qiact tree and RobotMetrics send) lists the first MAX_TREE_WORKERS and says how many there are.
  const tree = await n.tree();
  const services = tree.children!.find((c) => c.id === 'services')!;
  const big = services.children!.find((c) => c.id === sup.id)!;
  t.is(big.children!.length, MAX_TREE_WORKERS);
  t.is(big.childCount, COUNT);
  t.is(services.childCount, undefined, 'a supervisor under the bound lists all its children');
  t.is((await sup.tree()).length, COUNT, 'asked of the supervisor itself, every child');
});

test('the node tree shows every supervisor with its strategy and children', async (t) => {
  const n = await node(t);
  const log: string[] = [];
  await n.supervise(supervisor({ strategy: 'rest_for_one', children: [spec('a', log), { id: 'sub', start: supervisor({ children: [spec('b', log)] }) }] }), { id: 'robot' });
  const tree = await n.tree();
  t.is(tree.strategy, 'one_for_one');
  t.deepEqual(tree.children!.map((c) => c.id), ['directory', 'services']);
  const robot = tree.children![1]!.children!.find((c) => c.id === 'robot')!;
  t.is(robot.strategy, 'rest_for_one');
  t.deepEqual(robot.children!.map((c) => [c.id, c.type]), [['a', 'worker'], ['sub', 'supervisor']]);
  t.deepEqual(robot.children![1]!.children!.map((c) => c.name), ['b']);
});
