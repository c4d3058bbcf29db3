import test from 'ava';
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import {
  BadMessageError,
  CallTimeoutError,
  ChildExitError,
  ChildStartError,
  NoSuchMethodError,
  ServiceError,
  UnreachableError,
  routeOf,
  start,
  supervisor,
  type Down,
} from '../src/index.js';
import { Counter, MODULE } from './fixtures/services.js';
import { otherMachine } from './_support/machines.js';
import { CHILD_START_MS, Collector, deferred, within } from './_support/wait.js';
import { watchAdded } from './_support/workers.js';

// Every test here starts workers or child processes. Run at once (ava's default within a file),
// six of them loaded TypeScript on two cores together and a restart took over 5 s: one at a time.

test.serial('a service in a worker thread is called by name like a local one, over a MessagePort', async (t) => {
  const node = await start({ machineId: 'loc-worker' });
  t.teardown(() => node.stop());
  await node.spawn(Counter, { name: 'counter', in: 'worker', module: MODULE });
  const counter = await node.service<Counter>('counter');
  t.is(routeOf(counter).path, 'port');
  const where = await counter.where();
  t.is(where.pid, process.pid, 'same process');
  t.not(where.threadId, node.threadId, 'another thread');
  const seen = new Collector<number>();
  const sub = await counter.changed.connect(seen.push);
  t.is(await counter.add(2), 2);
  t.is(await counter.add(3), 5);
  t.deepEqual(await seen.count(2), [2, 5]);
  sub.off();
  t.is(await sub.ended, 'unsubscribed');
  await counter.level.set(7);
  t.is(await counter.level.get(), 7);
  // Values cross by structured clone: binary data and maps arrive as they were sent.
  t.deepEqual(await counter.echo({ bytes: new Uint8Array([1, 2, 3]), nested: [1, 'two', null] }), { bytes: new Uint8Array([1, 2, 3]), nested: [1, 'two', null] });
  // A burst of calls in one turn, the 16th (the one that completes a post of 16) not cloneable:
  // only that call fails, typed; the others are answered.
  const burst = Array.from({ length: 20 }, (_, i) => counter.echo(i === 15 ? { i, callback: () => i } : { i }));
  const outcomes = await Promise.allSettled(burst);
  const refused = outcomes[15]!;
  t.is(refused.status, 'rejected');
  t.true((refused as PromiseRejectedResult).reason instanceof BadMessageError);
  t.regex(((refused as PromiseRejectedResult).reason as Error).message, /cannot be sent/);
  t.deepEqual(
    outcomes.filter((_, i) => i !== 15).map((o) => (o as PromiseFulfilledResult<unknown>).value),
    Array.from({ length: 20 }, (_, i) => ({ i })).filter((_, i) => i !== 15),
  );
});

test.serial('a service in a child process is called by name over a Unix socket; errors keep their type', async (t) => {
  const node = await start({ machineId: 'loc-process' });
  t.teardown(() => node.stop());
  await node.spawn(Counter, { name: 'here', module: MODULE });
  await node.spawn(Counter, { name: 'there', in: 'process', module: MODULE });
  const there = await node.service<Counter>('there');
  t.is(routeOf(there).path, 'unix');
  t.not((await there.where()).pid, process.pid);
  t.is(await there.add(4), 4);
  // The service in the other process calls back into this thread by name.
  t.is(await there.ask('here', 10), 10);
  const here = await node.service<Counter>('here');
  t.is(routeOf(here).path, 'direct');
  const missing = await t.throwsAsync((there as unknown as { nope(): Promise<void> }).nope(), { instanceOf: NoSuchMethodError });
  t.like(missing?.target, { service: 'there', method: 'nope' });
  const back = await watchAdded(node, ['there']);
  const crashed = await t.throwsAsync(there.crash(), { instanceOf: ServiceError });
  t.is(crashed?.remoteMessage, 'counter crashed on request');
  await back.arrived;
  // Last: a call that never answers holds the service's mailbox.
  const late = await t.throwsAsync(there.hang.with({ timeout: 50 })(), { instanceOf: CallTimeoutError });
  t.is(late?.timeoutMs, 50);
});

test.serial('kill -9 of a child process: its pending calls fail within a second, it is restarted, registered again, and called again', async (t) => {
  const node = await start({ machineId: 'loc-kill' });
  t.teardown(() => node.stop());
  await node.spawn(Counter, { name: 'victim', in: 'process', module: MODULE });
  const victim = await node.service<Counter>('victim');
  const { pid } = await victim.where();
  // One in the service's hands (it never answers), one queued behind it.
  const pending = [victim.hang(), victim.add(1)];
  const back = await watchAdded(node, ['victim']);
  const killedAt = performance.now();
  process.kill(pid, 'SIGKILL');
  for (const call of pending) await t.throwsAsync(call, { instanceOf: UnreachableError });
  const failedAfter = performance.now() - killedAt;
  t.true(failedAfter < 1000, `pending calls failed ${failedAfter.toFixed(0)} ms after the kill`);
  await back.arrived;
  t.is(await victim.add(5), 5, 'a fresh instance in a new process');
  t.not((await victim.where()).pid, pid);
  const services = (await node.tree()).children?.find((c) => c.id === 'services');
  t.like(services?.children?.[0], { in: 'process', restarts: 1 });
});

test.serial('a crash in a worker is the child exit its supervisor sees: it restarts it, and handles follow', async (t) => {
  const node = await start({ machineId: 'loc-restart' });
  t.teardown(() => node.stop());
  const ref = await node.spawn(Counter, { name: 'flaky', in: 'worker', module: MODULE });
  const flaky = await node.service<Counter>('flaky');
  const before = await flaky.where();
  const back = await watchAdded(node, ['flaky']);
  const down = deferred<Down>();
  node.monitor(ref!.address, down.resolve);
  await t.throwsAsync(flaky.crash(), { instanceOf: ServiceError });
  t.regex(String((await within(down.promise, 'the placed child to exit')).reason), /counter crashed on request/);
  await back.arrived;
  t.is(await flaky.add(1), 1);
  t.not((await flaky.where()).threadId, before.threadId);
});

test.serial('a child that fails to start in a process reports why, as a start error', async (t) => {
  const node = await start({ machineId: 'loc-start' });
  t.teardown(() => node.stop());
  const error = await t.throwsAsync(node.spawn(Counter, { name: 'broken', in: 'process', module: MODULE, export: 'FailsToStart' }), { instanceOf: ChildStartError });
  t.regex(error!.message, /no hardware here/);
  const missing = await t.throwsAsync(node.spawn(Counter, { name: 'nowhere', in: 'worker', module: MODULE, export: 'Nope' }), { instanceOf: ChildStartError });
  t.regex(missing!.message, /'Nope' is not exported/);
});

test.serial('monitors and links work across threads: a watched remote actor reports its exit reason', async (t) => {
  const node = await start({ machineId: 'loc-watch' });
  t.teardown(() => node.stop());
  await node.spawn(Counter, { name: 'remote', in: 'worker', module: MODULE, restart: 'temporary' });
  const local = await node.spawn(Counter, { name: 'local', restart: 'temporary' });
  const info = (await node.services()).find((s) => s.name === 'remote')!;
  const down = deferred<Down>();
  node.monitor(info.address, down.resolve);
  const localDown = deferred<Down>();
  node.monitor(local!.address, localDown.resolve);
  node.link(local!.address, info.address);
  const remote = await node.service<Counter>('remote');
  await t.throwsAsync(remote.crash());
  const seen = await within(down.promise, 'the remote actor to be reported down');
  t.is(seen.address.text, info.address);
  t.regex(String(seen.reason), /counter crashed on request/);
  // Linked: the local partner crashed with it.
  t.regex(String((await within(localDown.promise, 'the linked local actor to crash')).reason), /linked actor .* stopped/);
});

test.serial('another machine (its own machine id) is reached over TCP, both ways, on one connection', async (t) => {
  const head = await start({ machineId: 'head', listen: ['tcp:127.0.0.1:0'] });
  t.teardown(() => head.stop());
  await head.spawn(Counter, { name: 'head-counter' });
  const tcp = head.endpoints.find((e) => e.startsWith('tcp:'))!;
  await otherMachine(t, { machineId: 'arm', directory: tcp, listen: 'tcp:127.0.0.1:0', service: 'arm-counter' });
  const arm = await head.service<Counter>('arm-counter');
  t.is(routeOf(arm).path, 'tcp');
  t.is((await arm.where()).machineId, 'arm');
  t.is(await arm.add(2), 2);
  t.is(await arm.ask('head-counter', 3), 3, 'the arm calls the head back by name');
});

test.serial('a program whose node stops ends by itself at once: no timer, socket or child of qiact keeps it alive', async (t) => {
  const child = fork(fileURLToPath(new URL('./fixtures/stop-and-exit.ts', import.meta.url)), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  t.teardown(() => child.kill('SIGKILL'));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const stopped = new Promise<void>((resolve) => child.once('message', () => resolve()));
  await within(stopped, 'the program to stop its node', 20_000);
  // Generous for a loaded machine (coverage is written at exit), half the 30 s a stray call timer would hold it for.
  t.is(await within(exited, 'the process to exit by itself after node.stop()', 15_000), 0);
});

test.serial('a service process whose parent dies while it starts leaves quietly: no unhandled error about the closed channel', async (t) => {
  const parent = fork(fileURLToPath(new URL('./fixtures/orphaned-start.ts', import.meta.url)), [], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  t.teardown(() => parent.kill('SIGKILL'));
  let stdout = '';
  let stderr = '';
  parent.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  parent.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  // Its service process writes to the same pipes: they close when the last of the two has exited.
  const closed = Promise.all([once(parent.stdout!, 'close'), once(parent.stderr!, 'close')]);
  await within(
    (async () => {
      while (!/starting in \d+/.test(stdout)) await once(parent.stdout!, 'data');
    })(),
    'the service process to say it is starting',
    CHILD_START_MS,
  );
  parent.kill('SIGKILL');
  await within(closed, 'the orphaned service process to exit', 15_000);
  t.notRegex(stderr, /ERR_IPC_CHANNEL_CLOSED|EPIPE|Unhandled/);
});

test.serial('warnings of a service in a worker or a child process reach the parent node\'s onWarning, naming where they come from', async (t) => {
  const warnings = new Collector<string>();
  const node = await start({ machineId: 'loc-warn', onWarning: (message) => warnings.push(message) });
  t.teardown(() => node.stop());
  await node.spawn(Counter, { name: 'in-worker', in: 'worker', module: MODULE });
  await node.spawn(Counter, { name: 'in-process', in: 'process', module: MODULE });
  await (await node.service<Counter>('in-worker')).say('the lidar is warm');
  await (await node.service<Counter>('in-process')).say('the arm is stiff');
  const seen = () => warnings.values.join('\n');
  await within(
    (async () => {
      while (!/the arm is stiff/.test(seen()) || !/the lidar is warm/.test(seen())) await warnings.count(warnings.values.length + 1, 'both warnings');
    })(),
    'both warnings in the parent',
  );
  t.regex(seen(), /in-worker \(worker thread \d+\): .*the lidar is warm/);
  t.regex(seen(), /in-process \(process \d+\): .*the arm is stiff/);
});

test.serial('a monitor on a service in a worker or a process that exits hard reports why (ChildExitError with its code), not only noconnection', async (t) => {
  const node = await start({ machineId: 'loc-exit', onWarning: () => {} });
  t.teardown(() => node.stop());
  for (const where of ['worker', 'process'] as const) {
    await node.spawn(Counter, { name: `exits-${where}`, in: where, module: MODULE, restart: 'temporary' });
    const service = await node.service<Counter>(`exits-${where}`);
    const down = deferred<Down>();
    node.monitor(service, down.resolve);
    await service.where(); // watched: its node has answered since the monitor was set
    await t.throwsAsync(service.exit(3));
    const reason = (await within(down.promise, `the ${where} to be reported down`)).reason;
    t.true(reason instanceof ChildExitError, `${where}: ${String(reason)}`);
    t.regex(String((reason as Error).message), /exited with code 3/);
  }
});

test.serial('a supervisor placed in a worker or a process is part of the node\'s tree: its children are listed through it', async (t) => {
  const node = await start({ machineId: 'loc-tree' });
  t.teardown(() => node.stop());
  // test/fixtures/head.ts exports `limb`, a supervisor of one service. The spec's own `start`
  // only says it is a supervisor: the worker or process starts the module's.
  const HEAD_TREE = new URL('./fixtures/head.ts', import.meta.url).href;
  const limbs = supervisor({
    children: [
      { id: 'left', start: supervisor({ children: [] }), in: 'worker', module: HEAD_TREE, export: 'limb' },
      { id: 'right', start: supervisor({ children: [] }), in: 'process', module: HEAD_TREE, export: 'limb' },
    ],
  });
  await node.supervise(limbs, { id: 'limbs' });
  const services = (await node.tree()).children!.find((c) => c.id === 'services')!;
  const tree = services.children!.find((c) => c.id === 'limbs')!;
  t.like(tree.children, [
    { id: 'left', in: 'worker', children: [{ id: 'head' }] },
    { id: 'right', in: 'process', children: [{ id: 'head' }] },
  ]);
});
