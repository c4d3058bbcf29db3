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
     port.on('message', (m) => (m === 'exit' ? process.exit(3) : port.postMessage(m)));`,
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

test('a message that cannot be cloned is refused with a typed error; the link stays open', async (t) => {
  const { worker, link } = echoWorker();
  t.teardown(() => worker.terminate());
  t.throws(() => link.send({ callback: () => 1 }), { instanceOf: UnreachableError, message: /cannot be sent to another thread/ });
  const back = new Collector<unknown>();
  link.onMessage = back.push;
  link.send('still open');
  t.deepEqual(await back.count(1), ['still open']);
  link.close();
  t.is(await link.closed, undefined);
});
