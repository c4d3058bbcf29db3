import { threadId as currentThreadId } from 'node:worker_threads';
import { DirectoryClient, type DirectoryHost } from '../actors/directory/client.js';
import { DIRECTORY_NAME, ServiceDirectory, type Registration } from '../actors/directory/directory.js';
import { Actor, type ActorHost, type ExitReason } from './actor.js';
import { Address, type ActorId } from './address.js';
import type { Behaviour, BehaviourFactory, ServiceDescription } from './behaviour.js';
import { systemClock, type Clock } from './clock.js';
import { Envelope, PENDING } from './envelope.js';
import { NoSuchServiceError, NodeStoppedError, UnreachableError } from './errors.js';
import { LocalTarget } from './local-target.js';
import { machineId as readMachineId } from './machine-id.js';
import { Mailbox, type MailboxOptions } from './mailbox.js';
import { PendingCalls } from './pending-calls.js';
import { checkCallOptions, makeHandle, type CallOptions, type Remote } from './remote.js';
import { isServiceClass, ServiceBehaviour, type ServiceContext, type ServiceHost } from './service.js';
import { SignalQueue } from './signal.js';
import { isSupervisorSpec, supervisor, type Child, type Startable } from './supervision/child-spec.js';
import { SupervisorBehaviour, type SupervisorHost } from './supervision/supervisor.js';

export interface StartOptions {
  /** This computer's id; default `QIACT_MACHINE_ID`, else the persisted one. */
  machineId?: string;
  /** Default call timeout in ms; default `QIACT_CALL_TIMEOUT_MS`, else 30000. */
  callTimeout?: number;
  /**
   * Restart intensity of the supervisor that holds the services started with `node.spawn`:
   * default 10 restarts in 10 seconds.
   */
  servicesIntensity?: { intensity: number; period: number };
  /** Where runtime warnings go (a post that failed, a dropped post...); default stderr. */
  onWarning?: (message: string, error?: unknown) => void;
  /** Time source for deadlines and restart windows; tests may pass a ManualClock. */
  clock?: Clock;
  /** The environment to read `QIACT_*` variables from; default `process.env`. */
  env?: NodeJS.ProcessEnv;
}

/** Supervisors get control messages only; their bound is high so no exit notice is lost. */
const SUPERVISOR_MAILBOX: MailboxOptions = { capacity: 1_000_000 };

/* Captured by the Promise executor: saves a closure per call. */
let capturedResolve: (value: unknown) => void = () => {};
let capturedReject: (reason: unknown) => void = () => {};
function capture(resolve: (value: unknown) => void, reject: (reason: unknown) => void): void {
  capturedResolve = resolve;
  capturedReject = reject;
}

/**
 * The machinery of one node: its actor table, the one call/post path every message goes
 * through, and what supervisors, services and the directory client need from the node.
 * Internal: users hold the `Node` facade.
 */
export class NodeCore implements ActorHost, SupervisorHost, ServiceHost, DirectoryHost {
  readonly machineId: string;
  readonly processId = process.pid;
  readonly threadId = currentThreadId;
  readonly clock: Clock;
  readonly callTimeout: number;
  readonly pending: PendingCalls;
  readonly directory: DirectoryClient;
  readonly #actors = new Map<number, Actor>();
  readonly #signals: SignalQueue;
  readonly #onWarning: (message: string, error?: unknown) => void;
  readonly #servicesIntensity: { intensity: number; period: number };
  #nextActorId = 1;
  root: Actor | null = null;
  /** The dynamic supervisor that holds what `node.spawn` and `node.supervise` start. */
  services: Actor | null = null;
  stopped = false;

  readonly directoryFactory: BehaviourFactory = {
    kind: 'behaviour',
    label: DIRECTORY_NAME,
    create: () =>
      new ServiceBehaviour(
        new ServiceDirectory((self) => this.directory.attach(this.#actors.get(self.actorId)!)),
        this,
      ),
  };

  constructor(options: StartOptions) {
    const env = options.env ?? process.env;
    this.machineId = options.machineId ?? readMachineId(env);
    this.clock = options.clock ?? systemClock;
    const fromEnv = env.QIACT_CALL_TIMEOUT_MS;
    this.callTimeout = options.callTimeout ?? (fromEnv ? Number(fromEnv) : 30_000);
    checkCallOptions({ timeout: this.callTimeout });
    this.#servicesIntensity = options.servicesIntensity ?? { intensity: 10, period: 10_000 };
    this.#onWarning = options.onWarning ?? ((message, error) => console.warn(`qiact: ${message}`, error ?? ''));
    this.pending = new PendingCalls(this.clock, (env) => env.target.target(env.method));
    this.directory = new DirectoryClient(this);
    this.#signals = new SignalQueue((error) => this.warn('a signal subscriber threw', error));
  }

  /** Starts the root supervisor: the embedded directory, then the services supervisor. */
  async boot(): Promise<void> {
    const rootSpec = supervisor({
      strategy: 'one_for_one',
      intensity: 3,
      period: 5000,
      children: [
        { id: 'directory', start: this.directoryFactory, name: DIRECTORY_NAME },
        { id: 'services', start: supervisor({ strategy: 'dynamic', ...this.#servicesIntensity }) },
      ],
    });
    const root = this.newActor(new SupervisorBehaviour(rootSpec, this), 'root', SUPERVISOR_MAILBOX);
    await root.start();
    this.root = root;
    this.services = this.#supervisorChild('services');
  }

  #supervisorChild(id: string): Actor | null {
    return (this.root?.behaviour as SupervisorBehaviour | undefined)?.childActor(id) ?? null;
  }

  /** The services supervisor as it is now (it may have been restarted by the root). */
  currentServices(): Actor {
    if (this.stopped) throw new NodeStoppedError(`${this.machineId}/${this.processId}/${this.threadId}`);
    if (!this.services?.alive) this.services = this.#supervisorChild('services');
    if (!this.services) throw new NodeStoppedError(`${this.machineId}/${this.processId}/${this.threadId}`);
    return this.services;
  }

  newActor(behaviour: Behaviour, name: string | undefined, mailbox: MailboxOptions | undefined): Actor {
    const id = this.#nextActorId++ as ActorId;
    const actor = new Actor(this, new Address(this.machineId, this.processId, this.threadId, id), behaviour, new Mailbox(mailbox), name);
    this.#actors.set(id, actor);
    return actor;
  }

  actorAt(address: Address): Actor | undefined {
    if (address.localityOf(this.#self()) !== 'same-thread') return undefined;
    return this.#actors.get(address.actorId);
  }

  #selfAddress: Address | undefined;
  #self(): Address {
    return (this.#selfAddress ??= new Address(this.machineId, this.processId, this.threadId, 0 as ActorId));
  }

  // ---- the call path: every call and post inside the node goes through these two ----

  callActor(actor: Actor, method: string, args: unknown[], timeoutMs: number, signal?: AbortSignal): Promise<unknown> {
    const env = new Envelope(actor, method, args, true);
    const promise = new Promise(capture);
    env.resolve = capturedResolve;
    env.reject = capturedReject;
    this.pending.track(env, timeoutMs, signal);
    if (env.state === PENDING) actor.deliver(env);
    return promise;
  }

  post(actor: Actor, method: string, args: unknown[]): void {
    actor.deliver(new Envelope(actor, method, args, false));
  }

  call(actor: Actor, method: string, args: unknown[]): Promise<unknown> {
    return this.callActor(actor, method, args, this.callTimeout);
  }

  // ---- hosts ----

  dispatch<T>(fn: (value: T) => void, value: T): void {
    this.#signals.dispatch(fn, value);
  }

  actorExited(actor: Actor, reason: ExitReason): void {
    this.#actors.delete(actor.address.actorId);
    this.directory.release(actor);
    if (actor === this.root && !this.stopped) {
      this.stopped = true;
      this.warn(`the root supervisor stopped (${reason instanceof Error ? reason.message : reason}); this node is down`);
    }
  }

  warn(message: string, error?: unknown): void {
    this.#onWarning(message, error);
  }

  behaviourFor(start: Startable): Behaviour {
    if (isServiceClass(start)) return new ServiceBehaviour(new start(), this);
    if (isSupervisorSpec(start)) return new SupervisorBehaviour(start, this);
    return start.create();
  }

  /** Starts one child: reserve its name, start it, then declare it ready, as libqi does. */
  async startChild(child: Child, _parent: Actor): Promise<Actor | null> {
    const behaviour = this.behaviourFor(child.start);
    const actor = this.newActor(behaviour, child.name ?? child.id, child.type === 'supervisor' ? SUPERVISOR_MAILBOX : child.mailbox);
    const registers = child.name !== undefined && child.start !== this.directoryFactory;
    if (registers) {
      try {
        await this.directory.register(child.name!, actor, this.callTimeout);
      } catch (error) {
        actor.kill();
        throw error;
      }
    }
    if (!(await actor.start())) return null;
    if (registers) await this.directory.ready(actor, this.callTimeout);
    return actor;
  }

  infoFor(actor: Actor, name: string): Registration {
    return { name, machineId: this.machineId, processId: this.processId, endpoints: [], address: actor.address.text };
  }

  contextFor(actor: Actor): ServiceContext {
    return {
      self: actor.address,
      name: actor.name,
      service: <T>(name: string, options?: CallOptions) => this.handle<T>(name, options, actor),
      stop: () => void actor.stop('normal'),
    };
  }

  // ---- handles ----

  /** Finds a service by name and returns its live actor. */
  async resolve(name: string, timeoutMs: number): Promise<Actor> {
    if (this.stopped) throw new NodeStoppedError(`${this.machineId}/${this.processId}/${this.threadId}`);
    const info = await this.directory.lookup(name, timeoutMs);
    const address = Address.parse(info.address);
    if (address.localityOf(this.#self()) !== 'same-thread') {
      throw new UnreachableError(info.address, `service '${name}' lives in another thread, process or machine, which this version cannot reach yet`);
    }
    const actor = this.#actors.get(address.actorId);
    if (actor === undefined || !actor.alive) throw new NoSuchServiceError(name);
    return actor;
  }

  async handle<T>(name: string, options: CallOptions | undefined, owner: Actor | undefined): Promise<Remote<T>> {
    checkCallOptions(options);
    const timeout = options?.timeout ?? this.callTimeout;
    const actor = await this.resolve(name, timeout);
    const description = (await this.callActor(actor, '@describe', [], timeout)) as ServiceDescription;
    return makeHandle<T>(new LocalTarget(this, name, actor, timeout, options?.signal, owner), description);
  }

  async stop(): Promise<void> {
    if (this.stopped && !this.root?.alive) return;
    this.stopped = true;
    await this.root?.stop('shutdown');
    for (const actor of this.#actors.values()) actor.kill();
  }
}
