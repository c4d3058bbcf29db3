import test from 'ava';
import { InvalidArgumentError, LinkedExitError, routeOf, start, supervisor, type Down } from '../src/index.js';
import { deferred, within } from './_support/wait.js';
import { watchAdded, worker, type TestWorker } from './_support/workers.js';

async function setup(t: { teardown(fn: () => unknown): void }) {
  const node = await start({ machineId: 'watch-test', onWarning: () => {} });
  t.teardown(() => node.stop());
  const log: string[] = [];
  const a = await node.spawn(worker('a', log), { name: 'a' });
  const b = await node.spawn(worker('b', log), { name: 'b' });
  return { node, a: a!, b: b! };
}

test('a monitor hears once, with the reason, when the actor crashes or stops', async (t) => {
  const { node, a, b } = await setup(t);
  const crashed = deferred<Down>();
  const stopped = deferred<Down>();
  node.monitor(a, crashed.resolve);
  node.monitor(b.address, stopped.resolve);
  // The ref follows restarts: once the supervisor has started a new 'a', a.address is the new run's.
  const crashedAddress = a.address;
  await t.throwsAsync((await node.service<TestWorker>('a')).crash());
  const down = await within(crashed.promise, 'the crash notice');
  t.is(down.name, 'a');
  t.true(down.address.equals(crashedAddress));
  t.regex((down.reason as Error).message, /a crashed/);
  await b.stop();
  t.is((await within(stopped.promise, 'the stop notice')).reason, 'shutdown');
});

test('monitoring an actor that is already gone fires at once with noproc', async (t) => {
  const { node, a } = await setup(t);
  await a.stop();
  const down = deferred<Down>();
  node.monitor(a.address.text, down.resolve);
  t.is((await within(down.promise, 'the noproc notice')).reason, 'noproc');
});

test('a cancelled monitor stays silent', async (t) => {
  const { node, a, b } = await setup(t);
  let heard = false;
  const off = node.monitor(a, () => (heard = true));
  off();
  const other = deferred<Down>();
  node.monitor(a, other.resolve);
  await a.stop();
  await within(other.promise, 'the other monitor');
  t.false(heard);
  t.truthy(b);
});

test('linked actors: an abnormal exit takes the partner down too (and its supervisor restarts it); a normal one does not', async (t) => {
  const { node, a, b } = await setup(t);
  node.link(a, b);
  const bDown = deferred<Down>();
  node.monitor(b, bDown.resolve);
  const back = await watchAdded(node, ['a', 'b']);
  await t.throwsAsync((await node.service<TestWorker>('a')).crash());
  const { reason } = await within(bDown.promise, 'the linked partner to go down');
  t.true(reason instanceof LinkedExitError);
  t.regex((reason as Error).message, /linked actor a stopped: Error: a crashed/);
  await back.arrived;

  const log: string[] = [];
  const c = (await node.spawn(worker('c', log), { name: 'c' }))!;
  const d = (await node.spawn(worker('d', log), { name: 'd' }))!;
  node.link(c, d);
  const cDown = deferred<Down>();
  node.monitor(c, cDown.resolve);
  await c.stop();
  await within(cDown.promise, 'c to stop');
  t.is(await (await node.service<TestWorker>('d')).ping(), 'd', 'a clean exit does not propagate');
  // Linking to an actor that is gone: the live one exits with noproc, as a monitor would report.
  const dDown = deferred<Down>();
  node.monitor(d, dDown.resolve);
  node.link(c, d);
  t.regex(String((await within(dDown.promise, 'd to exit for its link to a dead actor')).reason), /linked actor .*noproc|noproc/);
});

test('refs and handles follow restarts, as OTP registered names do: an ActorRef address, node.monitor(handle) on the current run; a given-up tree\'s ref says so', async (t) => {
  const { node } = await setup(t);
  const log: string[] = [];
  // A spawned service that crashes is restarted as a new actor: its ref names the new run.
  const spawned = await node.spawn(worker('s', log), { name: 's' });
  const firstRun = spawned!.address.text;
  const restarted = await watchAdded(node, ['s']);
  await t.throwsAsync((await node.service<TestWorker>('s')).crash());
  await restarted.arrived;
  t.not(spawned!.address.text, firstRun, 'the ref now names the new run');
  t.is(routeOf(await node.service<TestWorker>('s')).address, spawned!.address.text);

  // A tree that gives up at its first crash is given up alone (its own fate): its ref says so.
  const tree = await node.supervise(supervisor({ strategy: 'one_for_one', intensity: 0, period: 5000, children: [{ id: 'w', name: 'w', start: worker('w', log) }] }), { id: 'tree' });
  const treeDown = deferred<Down>();
  node.monitor(tree, treeDown.resolve);
  await t.throwsAsync((await node.service<TestWorker>('w')).crash());
  await within(treeDown.promise, 'the tree supervisor to give up');
  await node.tree(); // behind the give-up in the services supervisor's mailbox
  await t.throwsAsync(tree.whichChildren(), { instanceOf: InvalidArgumentError, message: /tree .* is not running/ });
  await node.supervise(supervisor({ children: [{ id: 'w', name: 'w', start: worker('w', log) }] }), { id: 'tree-2' });

  // A handle whose service crashed and came back: monitored, it is the new run that is watched.
  const w = await node.service<TestWorker>('w');
  const again = await watchAdded(node, ['w']);
  await t.throwsAsync(w.crash());
  await again.arrived;
  const down = deferred<Down>();
  node.monitor(w, down.resolve);
  await w.ping(); // the new run answers, so it is the one being watched
  await t.throwsAsync(w.crash());
  t.regex(String((await within(down.promise, 'the current run to be reported down')).reason), /w crashed/, 'not noproc for the old run');
});
