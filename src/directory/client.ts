import { reasonText, type Actor, type ExitReason } from '../actor.js';
import type { Address } from '../address.js';
import type { Clock } from '../clock.js';
import { NodeStoppedError, UnreachableError } from '../errors.js';
import { DIRECTORY_NAME, UNREGISTER_BATCH, type Registered, type Registration, type ServiceEvent, type ServiceInfo } from './entries.js';

/** What the client needs from its node. */
export interface DirectoryHost {
  readonly clock: Clock;
  callActor(actor: Actor, method: string, args: unknown[], timeoutMs: number): Promise<unknown>;
  /** A call to an actor of this thread, answered at once (a value, or throws) when it is idle. */
  callNow(actor: Actor, method: string, args: unknown[], timeoutMs: number): unknown;
  callAddress(address: Address, method: string, args: unknown[], timeoutMs: number): Promise<unknown>;
  postAddress(address: Address, method: string, args: unknown[]): void;
  subscribeAddress(address: Address, member: string, deliver: (value: unknown) => void, end: (reason: string) => void, timeoutMs: number): Promise<unknown>;
  monitorRemote(address: Address, watcher: (reason: ExitReason) => void): () => void;
  infoFor(actor: Actor, name: string): Registration;
  /** The node's actors (this thread's), each carrying its registration if it has one. */
  actors(): Iterable<Actor>;
  warn(message: string, error?: unknown): void;
  /** Finds another node's directory again after it went away (restarted, or its process did). */
  findDirectoryAgain(): Promise<Address>;
  readonly stopped: boolean;
}

/** How long to wait between two searches for a directory that went away. */
const RETRY_FIRST_MS = 100;
const RETRY_MAX_MS = 2000;

/**
 * A node's side of the directory, which is either embedded in this node or another node's. It
 * remembers which of the node's actors it registered, so that when the directory restarts (and
 * so forgets everything) the services still alive are registered again without user code doing
 * anything. Another node's directory is watched: when it goes away (its actor restarted, or its
 * whole process died), the client looks for it again at the same endpoints, with backoff, until
 * it is back. Look-ups made while the directory is down wait for it, up to their timeout.
 */
export class DirectoryClient {
  /** The embedded directory actor, when this node runs one. */
  #local: Actor | null = null;
  /** Another node's directory. */
  #remote: Address | null = null;
  /** Look-ups waiting for the directory to come back; given an error when the node stops. */
  #waiting: ((stopped?: Error) => void)[] = [];
  /** `whenReady` callers by name; told `false` when the node stops. */
  readonly #awaitingName = new Map<string, Set<(ready: boolean) => void>>();
  /** The node stopped: nothing waits here any more. */
  #closed = false;
  #watchingAdded: Promise<void> | null = null;
  #unwatchRemote: () => void = () => {};
  /** The wait before the next search, cut short when the node stops. */
  #retry: { timer: unknown; resolve: () => void } | null = null;

  constructor(private readonly host: DirectoryHost) {}

  /** The embedded directory actor if this node runs one and it is alive. */
  get localActor(): Actor | null {
    return this.#local?.alive ? this.#local : null;
  }

  /** Use another node's directory (this node runs none); called again each time it is found anew. */
  useRemote(address: Address): void {
    this.#remote = address;
    this.#unwatchRemote();
    this.#unwatchRemote = this.host.monitorRemote(address, (reason) => this.#remoteLost(address, reason));
    this.#use(address);
  }

  /** The embedded directory actor (re)started: use it, and register again everything still alive. */
  attach(directory: Actor): void {
    this.#local = directory;
    this.#use(directory.address);
  }

  #use(directory: Address): void {
    this.#watchingAdded = null;
    for (const wake of this.#waiting.splice(0)) wake();
    const again: Promise<boolean>[] = [];
    // A scan of every actor, on the rare day a directory is (re)attached, rather than an index on every spawn.
    for (const actor of this.host.actors()) {
      const held = actor.registration;
      if (held !== null && actor.alive && held.directory !== directory.text) again.push(this.#registerAgain(directory, actor, held));
    }
    this.#announce(DIRECTORY_NAME);
    if (again.length > 0) {
      void Promise.all(again).then((done) => {
        const n = done.filter(Boolean).length;
        this.host.warn(`registered ${n} of ${again.length} service(s) again with the directory ${directory.text}`);
      });
    }
  }

  #remoteLost(address: Address, reason: ExitReason): void {
    if (this.#remote !== address || this.host.stopped) return;
    this.#remote = null;
    this.#watchingAdded = null;
    // Whatever was registered over the lost link is forgotten there (even if the directory
    // itself lives on): everything is registered again once it is found.
    for (const actor of this.host.actors()) if (actor.registration !== null) actor.registration.directory = null;
    this.host.warn(`the directory ${address.text} went away (${reasonText(reason)}); looking for it again`);
    void this.#findAgain();
  }

  async #findAgain(): Promise<void> {
    let delay = RETRY_FIRST_MS;
    while (!this.host.stopped) {
      try {
        const address = await this.host.findDirectoryAgain();
        if (!this.host.stopped) this.useRemote(address);
        return;
      } catch {
        await new Promise<void>((resolve) => {
          this.#retry = { timer: this.host.clock.setTimer(resolve, delay), resolve };
        });
        this.#retry = null;
        delay = Math.min(delay * 2, RETRY_MAX_MS);
      }
    }
  }

  /**
   * The node stops: stop watching and searching, and let go of everyone waiting here (their
   * timers would otherwise keep a stopped program alive until their timeouts).
   */
  close(): void {
    this.#closed = true;
    this.#unwatchRemote();
    const stopped = new NodeStoppedError('the directory client (its node stopped)');
    for (const wake of this.#waiting.splice(0)) wake(stopped);
    const waiters = [...this.#awaitingName.values()];
    this.#awaitingName.clear();
    for (const set of waiters) for (const wake of set) wake(false);
    if (this.#retry !== null) {
      this.host.clock.clearTimer(this.#retry.timer);
      this.#retry.resolve();
    }
  }

  async #registerAgain(directory: Address, actor: Actor, held: Registered): Promise<boolean> {
    held.directory = null;
    try {
      held.id = (await this.host.callAddress(directory, 'register', [this.host.infoFor(actor, held.name)], 5000)) as number;
      held.directory = directory.text;
      if (held.ready) {
        await this.host.callAddress(directory, 'ready', [held.id], 5000);
        this.#announce(held.name);
      }
      return true;
    } catch (error) {
      this.host.warn(`could not register '${held.name}' again with the restarted directory`, error);
      return false;
    }
  }

  /** The name this client registered `actor` under (and it has not stopped since), or null. */
  nameOf(actor: Actor): string | null {
    return actor.registration?.name ?? null;
  }

  /**
   * Step one: reserves the name (throws NameTakenError if it is held). At once, with no
   * promise, when the directory is this node's and idle.
   */
  register(name: string, actor: Actor, timeoutMs: number): void | Promise<void> {
    const directory = this.#now();
    if (directory === null) return this.#current(timeoutMs).then((found) => this.#register(found, name, actor, timeoutMs));
    return this.#register(directory, name, actor, timeoutMs);
  }

  #register(directory: Address, name: string, actor: Actor, timeoutMs: number): void | Promise<void> {
    const id = this.#ask(directory, 'register', [this.host.infoFor(actor, name)], timeoutMs);
    if (!(id instanceof Promise)) return void (actor.registration = { name, directory: directory.text, id: id as number, ready: false });
    return id.then((answer) => void (actor.registration = { name, directory: directory.text, id: answer as number, ready: false }));
  }

  /** Step two: makes the service visible. At once, as `register`, when it can. */
  ready(actor: Actor, timeoutMs: number): void | Promise<void> {
    const held = actor.registration;
    if (held === null) return;
    held.ready = true;
    const directory = this.#now();
    if (directory === null || directory.text !== held.directory) return this.#announce(held.name);
    const answer = this.#ask(directory, 'ready', [held.id], timeoutMs);
    if (!(answer instanceof Promise)) return this.#announce(held.name);
    return answer.then(() => this.#announce(held.name));
  }

  /** A request to the directory: answered at once by this node's own when it is idle. */
  #ask(directory: Address, method: string, args: unknown[], timeoutMs: number): unknown {
    const local = this.localActor;
    if (local !== null && local.address === directory) return this.host.callNow(local, method, args, timeoutMs);
    return this.host.callAddress(directory, method, args, timeoutMs);
  }

  #announce(name: string): void {
    const waiters = this.#awaitingName.get(name);
    if (waiters === undefined) return;
    this.#awaitingName.delete(name);
    for (const wake of waiters) wake(true);
  }

  /**
   * Resolves true when a service named `name` is next declared ready, wherever it lives (e.g.
   * its supervisor restarted it), or is ready already; false after `timeoutMs`, or when the node
   * stops.
   */
  whenReady(name: string, timeoutMs: number): Promise<boolean> {
    if (this.#closed) return Promise.resolve(false);
    const ready = new Promise<boolean>((resolve) => {
      let waiters = this.#awaitingName.get(name);
      if (waiters === undefined) this.#awaitingName.set(name, (waiters = new Set()));
      const timer = this.host.clock.setTimer(() => {
        waiters.delete(wake);
        resolve(false);
      }, timeoutMs);
      const wake = (ready: boolean): void => {
        this.host.clock.clearTimer(timer);
        resolve(ready);
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

  /**
   * The actor stopped: its registration goes away. The ids released in one turn go together, in
   * posts of up to UNREGISTER_BATCH: a supervisor stopping 100,000 named children sends a few
   * dozen messages, where one each overflowed the directory's mailbox and left names behind.
   */
  release(actor: Actor): void {
    const held = actor.registration;
    if (held === null) return;
    actor.registration = null;
    const directory = this.#now();
    if (directory === null || directory.text !== held.directory) return;
    if (this.#releasing !== null && this.#releasing.directory !== directory) this.#sendReleased();
    if (this.#releasing === null) {
      this.#releasing = { directory, ids: [] };
      // A microtask queued as the actor stops: before its supervisor hears of the exit (a later
      // microtask), so the unregister reaches the directory before the name is registered again.
      queueMicrotask(this.#sendReleasedNow);
    }
    this.#releasing.ids.push(held.id);
  }

  #releasing: { readonly directory: Address; readonly ids: number[] } | null = null;
  readonly #sendReleasedNow = (): void => this.#sendReleased();

  /**
   * Posts the ids released so far. A post: a node that stops does not wait for the answers (the
   * directory also forgets what a link registered when the link drops).
   */
  #sendReleased(): void {
    const releasing = this.#releasing;
    if (releasing === null) return;
    this.#releasing = null;
    const { directory, ids } = releasing;
    for (let i = 0; i < ids.length; i += UNREGISTER_BATCH) {
      this.host.postAddress(directory, 'unregister', [ids.length === 1 ? ids[0] : ids.slice(i, i + UNREGISTER_BATCH)]);
    }
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
    if (this.#closed) throw new NodeStoppedError('the directory client (its node stopped)');
    await new Promise<void>((resolve, reject) => {
      const timer = this.host.clock.setTimer(() => {
        this.#waiting = this.#waiting.filter((w) => w !== wake);
        reject(new UnreachableError(DIRECTORY_NAME, `the directory did not come back within ${timeoutMs} ms`));
      }, timeoutMs);
      const wake = (stopped?: Error): void => {
        this.host.clock.clearTimer(timer);
        if (stopped === undefined) resolve();
        else reject(stopped);
      };
      this.#waiting.push(wake);
    });
    return this.#current(timeoutMs);
  }
}
