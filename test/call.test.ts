import test from 'ava';
import {
  BadArgumentsError,
  CallTimeoutError,
  CancelledError,
  InvalidArgumentError,
  NoSuchMethodError,
  NoSuchServiceError,
  NodeStoppedError,
  ReceiverStoppedError,
  Refusal,
  Service,
  ServiceError,
  start,
  type Remote,
} from '../src/index.js';
import { deferred, within } from './_support/wait.js';

/** A service with one method of each kind a caller meets. */
class Calculator extends Service {
  total = 0;
  add(by: number): number {
    this.total += by;
    return this.total;
  }
  sum(...xs: number[]): number {
    return xs.reduce((a, b) => a + b, 0);
  }
  scaled(x: number, factor = 2): number {
    return x * factor;
  }
  async slowAdd(by: number, gate: Promise<void>, log: string[]): Promise<number> {
    log.push(`start ${by}`);
    await gate;
    log.push(`end ${by}`);
    return this.add(by);
  }
  divide(a: number, b: number): number {
    if (b === 0) throw new Refusal('DivisionByZero', 'cannot divide by zero', { a });
    return a / b;
  }
  explode(): never {
    throw new TypeError('wires crossed');
  }
  hang(started?: () => void): Promise<never> {
    started?.();
    return new Promise(() => {});
  }
  _hidden(): string {
    return 'private by convention';
  }
}

async function calculator(t: { teardown(fn: () => unknown): void }) {
  const warnings: string[] = [];
  const node = await start({ machineId: 'call-test', onWarning: (m) => warnings.push(m) });
  t.teardown(() => node.stop());
  await node.spawn(Calculator, { name: 'calc' });
  const calc = await node.service<Calculator>('calc');
  return { node, calc, warnings };
}

test('a call resolves with the method result, typed', async (t) => {
  const { calc } = await calculator(t);
  const result: number = await calc.add(2);
  t.is(result, 2);
  t.is(await calc.add(3), 5);
  t.is(await calc.sum(1, 2, 3, 4), 10);
  t.is(await calc.scaled(5), 10);
  t.is(await calc.scaled(5, 3), 15);
});

test('an async method holds the mailbox: messages are handled one at a time, in order', async (t) => {
  const { calc } = await calculator(t);
  const log: string[] = [];
  const gate = deferred();
  const first = calc.slowAdd(1, gate.promise, log);
  const second = calc.slowAdd(10, Promise.resolve(), log);
  const third = calc.add(100);
  await within(new Promise((r) => setImmediate(r)), 'a turn');
  t.deepEqual(log, ['start 1'], 'the second message waits for the first to finish');
  gate.resolve();
  t.deepEqual(await Promise.all([first, second, third]), [1, 11, 111]);
  t.deepEqual(log, ['start 1', 'end 1', 'start 10', 'end 10']);
});

test("a service's own error reaches the caller as ServiceError, and the service restarts fresh", async (t) => {
  const { calc } = await calculator(t);
  await calc.add(40);
  const error = await t.throwsAsync(calc.explode(), { instanceOf: ServiceError });
  t.is(error.code, 'SERVICE_ERROR');
  t.is(error.remoteName, 'TypeError');
  t.is(error.remoteMessage, 'wires crossed');
  t.is(error.target.service, 'calc');
  t.is(error.target.method, 'explode');
  t.true(error.cause instanceof TypeError, 'in-thread, the original error is the cause');
  t.is(await calc.add(1), 1, 'a crash restarts the service from scratch');
});

test('a Refusal answers the call and keeps the service and its state', async (t) => {
  const { calc } = await calculator(t);
  await calc.add(7);
  const error = await t.throwsAsync(calc.divide(1, 0), { instanceOf: ServiceError, message: /DivisionByZero: cannot divide by zero/ });
  t.deepEqual(error.data, { a: 1 });
  t.is(await calc.add(1), 8, 'state survived');
});

test('a call that gets no reply in time fails with CallTimeoutError naming service, method and limit', async (t) => {
  const { calc } = await calculator(t);
  const started = Date.now();
  const error = await t.throwsAsync(calc.hang.with({ timeout: 40 })(), { instanceOf: CallTimeoutError });
  t.true(Date.now() - started >= 39, 'never early');
  t.is(error.timeoutMs, 40);
  t.is(error.target.service, 'calc');
  t.is(error.target.method, 'hang');
  t.regex(error.message, /call to calc\.hang \(at call-test\/\d+\/\d+\/\d+\) timed out after 40 ms/);
});

test('the handle default timeout applies to every call through it', async (t) => {
  const { node } = await calculator(t);
  const calc = await node.service<Calculator>('calc', { timeout: 30 });
  await t.throwsAsync(calc.hang(), { instanceOf: CallTimeoutError, message: /30 ms/ });
});

test('a timeout of 0, a negative or fractional one is refused where it is written', async (t) => {
  const { node, calc } = await calculator(t);
  for (const timeout of [0, -5, 1.5, Number.NaN, Infinity]) {
    t.throws(() => calc.add.with({ timeout }), { instanceOf: InvalidArgumentError, message: /invalid timeout/ });
    await t.throwsAsync(node.service('calc', { timeout }), { instanceOf: InvalidArgumentError });
  }
  await t.throwsAsync(start({ callTimeout: 0 }), { instanceOf: InvalidArgumentError });
});

test('no such service: a typed error naming the service', async (t) => {
  const { node } = await calculator(t);
  const error = await t.throwsAsync(node.service('nope'), { instanceOf: NoSuchServiceError });
  t.is(error.service, 'nope');
  t.is(error.code, 'NO_SUCH_SERVICE');
});

test('no such method: a typed error listing what the service has', async (t) => {
  const { calc } = await calculator(t);
  const loose = calc as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
  const error = await t.throwsAsync(loose.multiply!(2), { instanceOf: NoSuchMethodError });
  t.is(error.target.method, 'multiply');
  t.true(error.available.includes('add'));
  t.false(error.available.includes('_hidden'), 'underscore methods are not exposed');
  await t.throwsAsync(loose._hidden!(), { instanceOf: NoSuchMethodError });
  t.is((calc as unknown as { then?: unknown }).then, undefined, 'a handle is not thenable');
});

test('too many arguments are refused with what was expected (too few is a compile error on typed handles)', async (t) => {
  const { calc } = await calculator(t);
  const loose = calc as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
  const error = await t.throwsAsync(loose.add!(1, 2), { instanceOf: BadArgumentsError, message: /calc\.add .* expects at most 1 argument\(s\), got 2/ });
  t.is(error.expected, 'at most 1');
  t.is(error.got, 2);
  await t.throwsAsync(loose.scaled!(1, 2, 3), { instanceOf: BadArgumentsError, message: /at most 2/ });
  t.is(await calc.sum(...Array.from({ length: 50 }, () => 1)), 50, 'a rest parameter takes any number');
  t.is(await calc.add(1), 1, 'refusals do not crash the service');
});

test('a post is fire-and-forget and keeps its order with calls', async (t) => {
  const { calc } = await calculator(t);
  calc.add.post(1);
  calc.add.post(2);
  t.is(await calc.add(3), 6);
});

test('a call cancelled with an AbortSignal fails with CancelledError; a queued one never runs', async (t) => {
  const { calc } = await calculator(t);
  const log: string[] = [];
  const gate = deferred();
  const busy = calc.slowAdd(1, gate.promise, log);
  const controller = new AbortController();
  const queued = calc.slowAdd.with({ signal: controller.signal })(5, Promise.resolve(), log);
  controller.abort(new Error('user pressed stop'));
  const error = await t.throwsAsync(queued, { instanceOf: CancelledError });
  t.is((error.cause as Error).message, 'user pressed stop');
  gate.resolve();
  t.is(await busy, 1);
  t.is(await calc.add(0), 1, 'the cancelled call did not run');
  t.deepEqual(log, ['start 1', 'end 1']);
  await t.throwsAsync(calc.add.with({ signal: AbortSignal.abort() })(1), { instanceOf: CancelledError });
});

test('calls waiting behind a crash fail with ReceiverStoppedError, none hangs', async (t) => {
  const { calc } = await calculator(t);
  const log: string[] = [];
  const gate = deferred();
  const busy = calc.slowAdd(1, gate.promise, log);
  const crash = calc.explode();
  const behind = calc.add(1);
  gate.resolve();
  t.is(await busy, 1);
  await t.throwsAsync(crash, { instanceOf: ServiceError });
  const error = await t.throwsAsync(behind, { instanceOf: ReceiverStoppedError });
  t.regex(error.reason, /TypeError: wires crossed/);
});

test('calls after a service was stopped fail at once; after node.stop too', async (t) => {
  const node = await start({ machineId: 'call-test' });
  const ref = await node.spawn(Calculator, { name: 'calc' });
  const calc: Remote<Calculator> = await node.service<Calculator>('calc');
  await ref!.stop();
  await t.throwsAsync(calc.add(1), { instanceOf: NoSuchServiceError });
  await node.stop();
  await t.throwsAsync(node.service('calc'), { instanceOf: NodeStoppedError });
  await node.stop(); // idempotent
});

test('an in-flight call fails with ReceiverStoppedError when the node stops under it', async (t) => {
  const node = await start({ machineId: 'call-test' });
  await node.spawn(Calculator, { name: 'calc', shutdown: 20 });
  const calc = await node.service<Calculator>('calc');
  const handling = deferred();
  const pending = calc.hang(handling.resolve);
  await within(handling.promise, 'the call to be handled');
  await node.stop();
  await t.throwsAsync(within(pending, 'the hanging call to settle'), { instanceOf: ReceiverStoppedError, message: /killed/ });
});
