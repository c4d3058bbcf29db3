import test from 'ava';
import { MessageChannel, Worker } from 'node:worker_threads';
import { UnreachableError } from '../src/errors.js';
import { PortLink } from '../src/transport/port-link.js';
import { Collector, within } from './_support/wait.js';

/** A real worker thread that echoes every message on the port it is given, and can exit on request. */
function echoWorker(): { worker: Worker; link: PortLink } {
  const { port1, port2 } = new MessageChannel();
  const worker = new Worker(
    `const { workerData } = require('node:worker_threads');
     const port = workerData.port;
     port.on('message', (batch) => (batch.includes('exit') ? process.exit(3) : port.postMessage(batch)));`,
    { eval: true, workerData: { port: port2 }, transferList: [port2] },
  );
  return { worker, link: new PortLink(port1, `worker ${worker.threadId}`) };
}

test('messages cross to a worker thread and back in order, by structured clone', async (t) => {
  const { worker, link } = echoWorker();
  t.teardown(() => worker.terminate());
  const back = new Collector<unknown>();
  link.onMessage = back.push;
  const sent = Array.from({ length: 2000 }, (_, i) => ({ kind: 'call', id: i, args: [new Uint8Array([i & 255]), new Map([['k', i]])] }));
  for (const m of sent) t.true(link.send(m));
  t.deepEqual(await back.count(sent.length), sent);
});

test('when the worker exits, the link closes with UnreachableError instead of leaving callers waiting', async (t) => {
  const { worker, link } = echoWorker();
  t.teardown(() => worker.terminate());
  link.send('exit');
  const reason = await within(link.closed, 'the link to notice the exit');
  t.true(reason instanceof UnreachableError);
  t.regex((reason as Error).message, /worker \d+ is unreachable: the other thread closed its port or exited/);
  t.false(link.send({ late: true }));
});

test('what a refusal sends comes after the rest of the batch it was refused from, even a burst of 16', async (t) => {
  const { worker, link } = echoWorker();
  t.teardown(() => worker.terminate());
  const back = new Collector<unknown>();
  link.onMessage = back.push;
  // Each refusal sends two notes at once, from inside the batch being sent one by one: after 8
  // of them a burst of 16 notes is ready, while good messages of the batch are still to go.
  link.onRefused = (message) => {
    const i = (message as { i: number }).i;
    link.send(`note ${i}a`);
    link.send(`note ${i}b`);
  };
  const batch = Array.from({ length: 16 }, (_, i) => (i % 2 === 0 ? { i, callback: () => i } : `good ${i}`));
  for (const m of batch) link.send(m);
  const goods = batch.filter((m) => typeof m === 'string');
  const notes = batch.filter((m) => typeof m !== 'string').flatMap((m) => [`note ${(m as { i: number }).i}a`, `note ${(m as { i: number }).i}b`]);
  t.deepEqual(await back.count(goods.length + notes.length), [...goods, ...notes]);
});

test('a message that cannot be cloned is refused with a typed error; the rest of its batch and the link go on', async (t) => {
  const { worker, link } = echoWorker();
  t.teardown(() => worker.terminate());
  const refused = new Collector<[unknown, Error]>();
  link.onRefused = (message, error) => refused.push([message, error]);
  const back = new Collector<unknown>();
  link.onMessage = back.push;
  const bad = { callback: () => 1 };
  link.send('before');
  link.send(bad);
  link.send('after');
  const [message, error] = (await refused.count(1))[0]!;
  t.is(message, bad);
  t.true(error instanceof UnreachableError);
  t.regex(error.message, /cannot be sent to another thread/);
  t.deepEqual(await back.count(2), ['before', 'after']);
  link.send('still open');
  t.deepEqual(await back.count(3), ['before', 'after', 'still open']);
  link.close();
  t.is(await link.closed, undefined);
});
