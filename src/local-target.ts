import { isAbnormal, type Actor } from './actor.js';
import { NoSuchServiceError } from './errors.js';
import type { NodeCore } from './node-core.js';
import type { CallOptions, HandleTarget, Subscription } from './remote.js';

/**
 * A handle's way to a service in this thread: calls go straight into the service's mailbox.
 * The actor is cached; when it has stopped (a supervisor restarts services as new actors), the
 * next call looks the name up again.
 */
export class LocalTarget implements HandleTarget {
  #actor: Actor;

  constructor(
    private readonly core: NodeCore,
    readonly name: string,
    actor: Actor,
    private readonly timeout: number,
    private readonly signal: AbortSignal | undefined,
    /** The actor that made the handle: its subscriptions end when it stops. */
    private readonly owner: Actor | undefined,
  ) {
    this.#actor = actor;
  }

  call(method: string, args: unknown[], options: CallOptions | undefined): Promise<unknown> {
    const timeout = options?.timeout ?? this.timeout;
    const signal = options?.signal ?? this.signal;
    const actor = this.#actor;
    if (actor.alive) return this.core.callActor(actor, method, args, timeout, signal);
    return this.#live(timeout).then((a) => this.core.callActor(a, method, args, timeout, signal));
  }

  post(method: string, args: unknown[]): void {
    const actor = this.#actor;
    if (actor.alive) return this.core.post(actor, method, args);
    this.#live(this.timeout).then(
      (a) => this.core.post(a, method, args),
      (error: unknown) => this.core.warn(`post to ${this.name}.${method} dropped`, error),
    );
  }

  /**
   * The service's live actor. If the cached one crashed, its supervisor is likely restarting it:
   * wait (up to the timeout) for the name to be ready again rather than fail in the gap.
   */
  async #live(timeout: number): Promise<Actor> {
    const last = this.#actor;
    if (last.alive) return last;
    try {
      return (this.#actor = await this.core.resolve(this.name, timeout));
    } catch (error) {
      if (!(error instanceof NoSuchServiceError) || !isAbnormal(last.exitReason ?? 'normal')) throw error;
      if (!(await this.core.directory.whenReady(this.name, timeout))) throw error;
      return (this.#actor = await this.core.resolve(this.name, timeout));
    }
  }

  async subscribe(member: string, listener: (value: unknown) => void): Promise<Subscription> {
    let live = true;
    let settle: (reason: string) => void = () => {};
    const ended = new Promise<string>((resolve) => (settle = resolve));
    const end = (reason: string): void => {
      live = false;
      settle(reason);
    };
    const deliver = (value: unknown): void => {
      if (live) listener(value);
    };
    // Delivered now when the actor is live, so a subscribe keeps its place in program order
    // with the calls made after it.
    const actor = this.#actor.alive ? this.#actor : await this.#live(this.timeout);
    const id = await this.core.callActor(actor, '@subscribe', [member, deliver, end], this.timeout);
    let forget = (): void => {};
    const off = (): void => {
      if (!live) return;
      end('unsubscribed');
      if (actor.alive) this.core.post(actor, '@unsubscribe', [member, id]);
    };
    if (this.owner) forget = this.owner.onExit(off);
    void ended.then(() => forget());
    return { off, ended };
  }
}
