import test from 'ava';
import { LinkedExitError, start, supervisor, type Down } from '../src/index.js';
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
  await t.throwsAsync((await node.service<TestWorker>('a')).crash());
  const down = await within(crashed.promise, 'the crash notice');
  t.is(down.name, 'a');
  t.true(down.address.equals(a.address));
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

test('refs and handles follow restarts, as OTP registered names do: a SupervisorRef after its tree restarted, an ActorRef address, node.monitor(handle) on the current run', async (t) => {
  const { node } = await setup(t);
  const log: string[] = [];
  // A tree that gives up at its first crash: its own supervisor (the node's) restarts it whole.
  const tree = await node.supervise(supervisor({ strategy: 'one_for_one', intensity: 0, period: 5000, children: [{ id: 'w', name: 'w', start: worker('w', log) }] }), { id: 'tree' });
  const first = tree.address.text;
  const treeDown = deferred<Down>();
  node.monitor(tree, treeDown.resolve);
  const back = await watchAdded(node, ['w']);
  await t.throwsAsync((await node.service<TestWorker>('w')).crash());
  await within(treeDown.promise, 'the tree supervisor to give up');
  await back.arrived;
  // The services supervisor handles the restart as a message of its own: a request behind it in
  // its mailbox (node.tree() asks it) returns once the new run is recorded.
  await node.tree();
  t.not(tree.address.text, first, 'the ref now names the new run');
  t.deepEqual((await tree.whichChildren()).map((c) => c.id), ['w'], 'and its requests reach it');

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
