import type { Actor } from '../actor.js';
import type { Clock } from '../clock.js';
import type { ShutdownPolicy } from './child-spec.js';

/**
 * Stops one child as OTP does: ask it to stop, wait up to the policy's time, then kill it.
 * `brutal_kill` kills at once; `infinity` waits as long as it takes (for supervisors).
 * Says how it ended: at once when the child stopped at once (an idle child with nothing to wait
 * for in its onStop: no promise, no timer, which is what stopping a million of them costs), else
 * as a promise.
 */
export function shutdown(actor: Actor, policy: ShutdownPolicy, clock: Clock): 'stopped' | 'killed' | Promise<'stopped' | 'killed'> {
  if (policy === 'brutal_kill') {
    actor.kill();
    return 'killed';
  }
  const stopping = actor.stop('shutdown');
  if (actor.status === 'stopped') return 'stopped';
  const stopped = stopping.then(() => 'stopped' as const);
  if (policy === 'infinity') return stopped;
  return stoppedInTime(actor, stopped, policy, clock);
}

async function stoppedInTime(actor: Actor, stopped: Promise<'stopped'>, ms: number, clock: Clock): Promise<'stopped' | 'killed'> {
  let timer: unknown;
  const late = new Promise<'late'>((resolve) => (timer = clock.setTimer(() => resolve('late'), ms)));
  const outcome = await Promise.race([stopped, late]);
  clock.clearTimer(timer);
  if (outcome === 'late') {
    actor.kill();
    return 'killed';
  }
  return 'stopped';
}
