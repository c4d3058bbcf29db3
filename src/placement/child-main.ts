/**
 * The entry point of a node started by a parent node in a worker thread or a child process
 * (`in: 'worker' | 'process'`). It starts a node that uses the parent's directory, imports the
 * module that exports the child, starts it, and tells the parent. The child's exit is the
 * node's exit: the parent's supervisor sees it as the child's exit and applies its policy.
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { reasonText } from '../actor.js';
import { toWire } from '../codec/wire-error.js';
import { InvalidChildSpecError } from '../errors.js';
import type { Node } from '../node.js';
import { start } from '../start.js';
import type { ChildConfig, ToChild, ToParent } from './control.js';

const send = (m: ToParent): void => {
  if (!isMainThread) return parentPort!.postMessage(m);
  // The parent may be gone (its 'disconnect' makes this process leave): what was meant for it is
  // dropped, never an unhandled error that crashes the process on its way out.
  if (process.connected) process.send!(m, undefined, undefined, (error: Error | null) => error && void leave(1));
};
const onControl = (fn: (m: ToChild) => void): void => {
  if (isMainThread) process.on('message', fn);
  else parentPort!.on('message', fn);
};

let node: Node | undefined;
let leaving = false;

/**
 * Stops the node, then lets the thread or process end on its own once its links have sent what
 * they hold (process.exit at once could cut off a last reply); a deadline makes sure it ends.
 */
async function leave(code: number): Promise<void> {
  if (leaving) return;
  leaving = true;
  process.exitCode = code;
  setTimeout(() => process.exit(code), 2000).unref();
  try {
    await node?.stop();
  } finally {
    if (isMainThread) {
      if (process.connected) process.disconnect();
    }
    else parentPort!.close();
  }
}

async function run(config: ChildConfig): Promise<void> {
  try {
    const module = (await import(config.module)) as Record<string, unknown>;
    const startable = module[config.export];
    if (startable === undefined) throw new InvalidChildSpecError(config.id, 'export', `'${config.export}' is not exported by ${config.module}`);
    // Its warnings are the parent's to report (its onWarning), as if the child were in its thread.
    const onWarning = (message: string, error?: unknown): void => send({ kind: 'warning', message: error === undefined || error === '' ? message : `${message}: ${error instanceof Error ? error.message : String(error)}` });
    node = await start({ onWarning, machineId: config.machineId, secret: config.secret, ...(config.tls ? { tls: config.tls } : {}), callTimeout: config.callTimeout, maxMessageBytes: config.maxMessageBytes, directoryAt: config.directory, listen: [...config.listen] });
    const spec = { id: config.id, restart: 'temporary' as const, ...(config.name ? { name: config.name } : {}), ...(config.mailbox ? { mailbox: config.mailbox } : {}) };
    const ref = await node.spawn(startable as never, spec);
    if (ref === null) {
      send({ kind: 'ignored' });
      return leave(0);
    }
    node.monitor(ref, (down) => {
      if (leaving) return;
      send({ kind: 'exited', reason: reasonText(down.reason) });
      void leave(0);
    });
    send({ kind: 'started', address: ref.address.text, pid: process.pid, endpoints: node.endpoints });
  } catch (error) {
    send({ kind: 'failed', error: toWire(error) });
    await leave(1);
  }
}

onControl((m) => {
  if (m.kind === 'config') void run(m.config);
  else if (m.kind === 'stop') void leave(0);
});
// A child process whose parent is gone has no one to serve: it leaves too.
if (isMainThread) process.on('disconnect', () => void leave(1));
else void run((workerData as { qiactChild: ChildConfig }).qiactChild);
