import type { Actor } from '../actor.js';
import type { Clock } from '../clock.js';
import type { ShutdownPolicy } from './child-spec.js';

/**
 * Stops one child as OTP does: ask it to stop, wait up to the policy's time, then kill it.
 * `brutal_kill` kills at once; `infinity` waits as long as it takes (for supervisors).
 * Resolves with how it ended.
 */
export async function shutdown(actor: Actor, policy: ShutdownPolicy, clock: Clock): Promise<'stopped' | 'killed'> {
  if (policy === 'brutal_kill') {
    actor.kill();
    return 'killed';
  }
  const stopping = actor.stop('shutdown');
  // Stopped already (nothing to wait for in its onStop): no timer to arm.
  if (actor.status === 'stopped') return 'stopped';
  const stopped = stopping.then(() => 'stopped' as const);
  if (policy === 'infinity') return stopped;
  let timer: unknown;
  const late = new Promise<'late'>((resolve) => (timer = clock.setTimer(() => resolve('late'), policy)));
  const outcome = await Promise.race([stopped, late]);
  clock.clearTimer(timer);
  if (outcome === 'late') {
    actor.kill();
    return 'killed';
  }
  return 'stopped';
}
