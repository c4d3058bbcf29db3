import type { Actor } from '../../src/actor.js';
import type { Address } from '../../src/address.js';
import type { Clock } from '../../src/clock.js';
import { UnreachableError } from '../../src/errors.js';
import { DIRECTORY_NAME, type Registration, type ServiceEvent, type ServiceInfo } from './directory.js';

/** What the client needs from its node. */
export interface DirectoryHost {
  readonly clock: Clock;
  callActor(actor: Actor, method: string, args: unknown[], timeoutMs: number): Promise<unknown>;
  callAddress(address: Address, method: string, args: unknown[], timeoutMs: number): Promise<unknown>;
  postAddress(address: Address, method: string, args: unknown[]): void;
  subscribeAddress(address: Address, member: string, deliver: (value: unknown) => void, end: (reason: string) => void, timeoutMs: number): Promise<unknown>;
  infoFor(actor: Actor, name: string): Registration;
  warn(message: string, error?: unknown): void;
}

interface Held {
  readonly name: string;
  /** The directory this id was given by: an id from an earlier directory means nothing to a new one. */
  directory: string | null;
  id: number;
  ready: boolean;
}

/**
 * A node's side of the directory, which is either embedded in this node or another node's. It
 * remembers which of the node's actors it registered, so that when the embedded directory
 * restarts (and so forgets everything) the services still alive are registered again without
 * user code doing anything. Look-ups made while the directory is down wait for it to come back,
 * up to their timeout.
 */
export class DirectoryClient {
  /** The embedded directory actor, when this node runs one. */
  #local: Actor | null = null;
  /** Another node's directory. */
  #remote: Address | null = null;
  #waiting: (() => void)[] = [];
  readonly #held = new Map<Actor, Held>();
  readonly #awaitingName = new Map<string, Set<() => void>>();
  #watchingAdded: Promise<void> | null = null;

  constructor(private readonly host: DirectoryHost) {}

  /** The embedded directory actor if this node runs one and it is alive. */
  get localActor(): Actor | null {
    return this.#local?.alive ? this.#local : null;
  }

  /** Use another node's directory (this node runs none). */
  useRemote(address: Address): void {
    this.#remote = address;
  }

  /** The embedded directory actor (re)started: use it, and register again everything still alive. */
  attach(directory: Actor): void {
    this.#local = directory;
    this.#watchingAdded = null;
    for (const wake of this.#waiting.splice(0)) wake();
    for (const [actor, held] of this.#held) {
      if (!actor.alive) continue;
      void this.#registerAgain(directory.address, actor, held);
    }
  }

  async #registerAgain(directory: Address, actor: Actor, held: Held): Promise<void> {
    try {
      held.id = (await this.host.callAddress(directory, 'register', [this.host.infoFor(actor, held.name)], 5000)) as number;
      held.directory = directory.text;
      if (held.ready) {
        await this.host.callAddress(directory, 'ready', [held.id], 5000);
        this.#announce(held.name);
      }
    } catch (error) {
      this.host.warn(`could not register '${held.name}' again with the restarted directory`, error);
    }
  }

  /** Step one: reserves the name (throws NameTakenError if it is held). */
  async register(name: string, actor: Actor, timeoutMs: number): Promise<void> {
    const directory = await this.#current(timeoutMs);
    const id = (await this.host.callAddress(directory, 'register', [this.host.infoFor(actor, name)], timeoutMs)) as number;
    this.#held.set(actor, { name, directory: directory.text, id, ready: false });
  }

  /** Step two: makes the service visible. */
  async ready(actor: Actor, timeoutMs: number): Promise<void> {
    const held = this.#held.get(actor);
    if (held === undefined) return;
    held.ready = true;
    const directory = this.#now();
    if (directory !== null && directory.text === held.directory) await this.host.callAddress(directory, 'ready', [held.id], timeoutMs);
    this.#announce(held.name);
  }

  #announce(name: string): void {
    const waiters = this.#awaitingName.get(name);
    if (waiters === undefined) return;
    this.#awaitingName.delete(name);
    for (const wake of waiters) wake();
  }

  /**
   * Resolves true when a service named `name` is next declared ready, wherever it lives (e.g.
   * its supervisor restarted it), or is ready already; false after `timeoutMs`.
   */
  whenReady(name: string, timeoutMs: number): Promise<boolean> {
    const ready = new Promise<boolean>((resolve) => {
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
    // Watch first, then look: a service that became ready in between is not missed.
    void this.#watchAdded(timeoutMs).then(() =>
      this.lookup(name, timeoutMs).then(
        () => this.#announce(name),
        () => {},
      ),
    );
    return ready;
  }

  /** One subscription per node to serviceAdded, made when someone first waits for a name. */
  #watchAdded(timeoutMs: number): Promise<void> {
    if (this.#watchingAdded !== null) return this.#watchingAdded;
    const onAdded = (event: unknown): void => this.#announce((event as ServiceEvent).name);
    const onEnd = (): void => {
      this.#watchingAdded = null;
    };
    const watching = (async () => {
      const directory = await this.#current(timeoutMs);
      const local = this.localActor;
      if (local !== null) await this.host.callActor(local, '@subscribe', ['serviceAdded', onAdded, onEnd], timeoutMs);
      else await this.host.subscribeAddress(directory, 'serviceAdded', onAdded, onEnd, timeoutMs);
    })().catch((error: unknown) => {
      this.#watchingAdded = null;
      this.host.warn('could not watch the directory for new services', error);
    });
    return (this.#watchingAdded = watching);
  }

  /** The actor stopped: its registration goes away. */
  release(actor: Actor): void {
    const held = this.#held.get(actor);
    if (held === undefined) return;
    this.#held.delete(actor);
    const directory = this.#now();
    // A post: a node that stops does not wait for the answers (the directory also forgets a
    // node whose link drops).
    if (directory !== null && directory.text === held.directory) this.host.postAddress(directory, 'unregister', [held.id]);
  }

  async lookup(name: string, timeoutMs: number): Promise<ServiceInfo> {
    return (await this.host.callAddress(await this.#current(timeoutMs), 'lookup', [name], timeoutMs)) as ServiceInfo;
  }

  async list(timeoutMs: number): Promise<ServiceInfo[]> {
    return (await this.host.callAddress(await this.#current(timeoutMs), 'list', [], timeoutMs)) as ServiceInfo[];
  }

  /** The directory to use now, or null while the embedded one is down. */
  #now(): Address | null {
    return this.#remote ?? this.localActor?.address ?? null;
  }

  /** The directory, waiting up to `timeoutMs` for the embedded one to be attached. */
  async #current(timeoutMs: number): Promise<Address> {
    const now = this.#now();
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
