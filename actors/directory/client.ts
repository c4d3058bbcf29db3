import type { Actor } from '../../src/actor.js';
import type { Clock } from '../../src/clock.js';
import { UnreachableError } from '../../src/errors.js';
import { DIRECTORY_NAME, type Registration, type ServiceInfo } from './directory.js';

/** What the client needs from its node. */
export interface DirectoryHost {
  readonly clock: Clock;
  callActor(actor: Actor, method: string, args: unknown[], timeoutMs: number): Promise<unknown>;
  infoFor(actor: Actor, name: string): Registration;
  warn(message: string, error?: unknown): void;
}

interface Held {
  readonly name: string;
  /** The directory this id was given by: an id from an earlier directory means nothing to a new one. */
  directory: Actor | null;
  id: number;
  ready: boolean;
}

/**
 * A node's side of the directory. It remembers which of the node's actors it registered, so
 * that when the directory restarts (and so forgets everything) the services still alive are
 * registered again without user code doing anything. Look-ups made while the directory is down
 * wait for it to come back, up to their timeout.
 */
export class DirectoryClient {
  #directory: Actor | null = null;
  #waiting: (() => void)[] = [];
  readonly #held = new Map<Actor, Held>();
  readonly #awaitingName = new Map<string, Set<() => void>>();

  constructor(private readonly host: DirectoryHost) {}

  get directory(): Actor | null {
    return this.#directory?.alive ? this.#directory : null;
  }

  /** A directory actor (re)started: use it, and register again everything still alive. */
  attach(directory: Actor): void {
    this.#directory = directory;
    for (const wake of this.#waiting.splice(0)) wake();
    for (const [actor, held] of this.#held) {
      if (!actor.alive) continue;
      void this.#registerAgain(directory, actor, held);
    }
  }

  async #registerAgain(directory: Actor, actor: Actor, held: Held): Promise<void> {
    try {
      held.id = (await this.host.callActor(directory, 'register', [this.host.infoFor(actor, held.name)], 5000)) as number;
      held.directory = directory;
      if (held.ready) {
        await this.host.callActor(directory, 'ready', [held.id], 5000);
        this.#announce(held.name);
      }
    } catch (error) {
      this.host.warn(`could not register '${held.name}' again with the restarted directory`, error);
    }
  }

  /** Step one: reserves the name (throws NameTakenError if it is held). */
  async register(name: string, actor: Actor, timeoutMs: number): Promise<void> {
    const directory = await this.#current(timeoutMs);
    const id = (await this.host.callActor(directory, 'register', [this.host.infoFor(actor, name)], timeoutMs)) as number;
    this.#held.set(actor, { name, directory, id, ready: false });
  }

  /** Step two: makes the service visible. */
  async ready(actor: Actor, timeoutMs: number): Promise<void> {
    const held = this.#held.get(actor);
    if (held === undefined) return;
    held.ready = true;
    if (held.directory?.alive) await this.host.callActor(held.directory, 'ready', [held.id], timeoutMs);
    this.#announce(held.name);
  }

  #announce(name: string): void {
    const waiters = this.#awaitingName.get(name);
    if (waiters === undefined) return;
    this.#awaitingName.delete(name);
    for (const wake of waiters) wake();
  }

  /**
   * Resolves true when a service of this node named `name` is next declared ready (e.g. its
   * supervisor restarted it), false after `timeoutMs`.
   */
  whenReady(name: string, timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      let waiters = this.#awaitingName.get(name);
      if (waiters === undefined) this.#awaitingName.set(name, (waiters = new Set()));
      const timer = this.host.clock.setTimer(() => {
        waiters.delete(wake);
        resolve(false);
      }, timeoutMs);
      const wake = (): void => {
        this.host.clock.clearTimer(timer);
        resolve(true);
      };
      waiters.add(wake);
    });
  }

  /** The actor stopped: its registration goes away. */
  release(actor: Actor): void {
    const held = this.#held.get(actor);
    if (held === undefined) return;
    this.#held.delete(actor);
    const directory = held.directory;
    if (directory !== null && directory === this.#directory && directory.alive) {
      this.host.callActor(directory, 'unregister', [held.id], 5000).catch((error: unknown) => {
        this.host.warn(`could not unregister '${held.name}'`, error);
      });
    }
  }

  async lookup(name: string, timeoutMs: number): Promise<ServiceInfo> {
    return (await this.host.callActor(await this.#current(timeoutMs), 'lookup', [name], timeoutMs)) as ServiceInfo;
  }

  async list(timeoutMs: number): Promise<ServiceInfo[]> {
    return (await this.host.callActor(await this.#current(timeoutMs), 'list', [], timeoutMs)) as ServiceInfo[];
  }

  /** The live directory actor, waiting up to `timeoutMs` for one to be attached. */
  async #current(timeoutMs: number): Promise<Actor> {
    const now = this.directory;
    if (now !== null) return now;
    await new Promise<void>((resolve, reject) => {
      const timer = this.host.clock.setTimer(() => {
        this.#waiting = this.#waiting.filter((w) => w !== wake);
        reject(new UnreachableError(DIRECTORY_NAME, `the directory did not come back within ${timeoutMs} ms`));
      }, timeoutMs);
      const wake = (): void => {
        this.host.clock.clearTimer(timer);
        resolve();
      };
      this.#waiting.push(wake);
    });
    return this.#current(timeoutMs);
  }
}
