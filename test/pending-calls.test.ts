/** Internals tested by path: bounds that the public API cannot show. */
import test from 'ava';
import { Actor, type ActorHost } from '../src/actor.js';
import { Address, type ActorId } from '../src/address.js';
import { ManualClock } from '../src/clock.js';
import { Envelope } from '../src/envelope.js';
import { CallTimeoutError, NodeStoppedError } from '../src/errors.js';
import { Mailbox } from '../src/mailbox.js';
import { PendingCalls } from '../src/pending-calls.js';

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

function host(pending: PendingCalls): ActorHost {
  return { pending, actorExited: () => {}, warn: () => {}, dispatch: (fn, v) => fn(v) };
}

test('many distinct timeouts leave no deadline lists behind once they expired', async (t) => {
  const clock = new ManualClock();
  const pending = new PendingCalls(clock, (env) => env.target.target(env.method));
  const actor = new Actor(host(pending), new Address('m', 1, 0, 1 as ActorId), { handle: () => undefined }, new Mailbox(), 'svc');
  const settled: Promise<unknown>[] = [];
  for (let timeout = 1; timeout <= 500; timeout++) {
    const env = new Envelope(actor, 'slow', [], true);
    settled.push(new Promise((resolve, reject) => ((env.resolve = resolve), (env.reject = reject))).catch((e: unknown) => e));
    pending.track(env, timeout, undefined);
  }
  await turn(); // the turn ends: pending calls get their deadlines
  t.is(pending.deadlineLists, 500);
  clock.advance(500);
  const errors = await Promise.all(settled);
  t.true(errors.every((e) => e instanceof CallTimeoutError));
  t.is(pending.deadlineLists, 0);
});

test('an exit hook that was cancelled does not run (subscriptions ended early leave nothing behind)', async (t) => {
  const pending = new PendingCalls(new ManualClock(), (env) => env.target.target(env.method));
  const actor = new Actor(host(pending), new Address('m', 1, 0, 2 as ActorId), { handle: () => undefined }, new Mailbox(), 'owner');
  let ran = 0;
  for (let i = 0; i < 100; i++) actor.onExit(() => ran++)();
  actor.onExit(() => (ran += 1000));
  await actor.start();
  await actor.stop();
  t.is(ran, 1000);
});

test('after close, a new call fails at once and arms no deadline (a stopped node keeps nothing alive)', async (t) => {
  const pending = new PendingCalls(new ManualClock(), (env) => env.target.target(env.method));
  const actor = new Actor(host(pending), new Address('m', 1, 0, 3 as ActorId), { handle: () => undefined }, new Mailbox(), 'svc');
  pending.close(() => new NodeStoppedError('m/1/0'));
  const env = new Envelope(actor, 'late', [], true);
  const settled = new Promise((resolve, reject) => ((env.resolve = resolve), (env.reject = reject))).catch((e: unknown) => e);
  pending.track(env, 30_000, undefined);
  t.true((await settled) instanceof NodeStoppedError);
  await turn();
  t.is(pending.deadlineLists, 0);
});
