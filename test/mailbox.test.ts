import test from 'ava';
import { InvalidChildSpecError, MailboxFullError, Service, start } from '../src/index.js';
import { deferred, within } from './_support/wait.js';

class Recorder extends Service {
  readonly seen: number[] = [];
  record(n: number): void {
    this.seen.push(n);
  }
  async block(gate: Promise<void>, started: () => void): Promise<void> {
    started();
    await gate;
  }
  read(): number[] {
    return [...this.seen];
  }
}

async function setup(t: { teardown(fn: () => unknown): void }, mailbox?: { capacity?: number; overflow?: 'reject' | 'drop-oldest' }) {
  const warnings: string[] = [];
  const node = await start({ machineId: 'mailbox-test', onWarning: (m) => warnings.push(m) });
  t.teardown(() => node.stop());
  await node.spawn(Recorder, mailbox ? { name: 'rec', mailbox } : { name: 'rec' });
  return { node, rec: await node.service<Recorder>('rec'), warnings };
}

test('messages from one sender are handled in the order they were sent', async (t) => {
  const { rec } = await setup(t);
  const sent = Array.from({ length: 5000 }, (_, i) => i);
  for (const n of sent) rec.record.post(n);
  t.deepEqual(await rec.read(), sent);
});

test('a full mailbox refuses a call with MailboxFullError naming the service and the bound', async (t) => {
  const { rec, warnings } = await setup(t, { capacity: 3 });
  const gate = deferred();
  const busy = deferred();
  const blocked = rec.block(gate.promise, busy.resolve);
  await within(busy.promise, 'the blocking call to start');
  const queued = [rec.record(1), rec.record(2), rec.record(3)];
  const error = await t.throwsAsync(rec.record(4), { instanceOf: MailboxFullError });
  t.is(error.capacity, 3);
  t.is(error.target.service, 'rec');
  t.is(error.code, 'MAILBOX_FULL');
  rec.record.post(5);
  t.true(warnings.some((w) => /post to rec\.record dropped/.test(w)), 'a dropped post is reported, not silent');
  gate.resolve();
  await blocked;
  await Promise.all(queued);
  t.deepEqual(await rec.read(), [1, 2, 3], 'nothing queued was lost, nothing refused was run');
});

test('with drop-oldest, the oldest queued message makes room (its call fails)', async (t) => {
  const { rec } = await setup(t, { capacity: 2, overflow: 'drop-oldest' });
  const gate = deferred();
  const busy = deferred();
  const blocked = rec.block(gate.promise, busy.resolve);
  await within(busy.promise, 'the blocking call to start');
  const oldest = rec.record(1);
  const kept = [rec.record(2), rec.record(3)];
  await t.throwsAsync(oldest, { instanceOf: MailboxFullError });
  gate.resolve();
  await blocked;
  await Promise.all(kept);
  t.deepEqual(await rec.read(), [2, 3]);
});

test('mailbox options are checked up front', async (t) => {
  const node = await start({ machineId: 'mailbox-test' });
  t.teardown(() => node.stop());
  for (const mailbox of [{ capacity: 0 }, { capacity: 1.5 }, { overflow: 'grow' }]) {
    await t.throwsAsync(node.spawn(Recorder, { mailbox: mailbox as never }), { instanceOf: InvalidChildSpecError, message: /field 'mailbox'/ });
  }
});
