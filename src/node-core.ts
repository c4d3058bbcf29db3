import { setFlagsFromString } from 'node:v8';
import { threadId as currentThreadId } from 'node:worker_threads';
import { DirectoryClient, type DirectoryHost } from './directory/client.js';
import { DIRECTORY_NAME, type Registration } from './directory/entries.js';
import { Actor, isAbnormal, LinkedExitError, type ActorHost, type ExitReason } from './actor.js';
import { Address, type ActorId } from './address.js';
import type { Behaviour, BehaviourFactory, ServiceDescription } from './behaviour.js';
import { systemClock, type Clock } from './clock.js';
import { Envelope, PENDING } from './envelope.js';
import { handling, type Caller } from './caller.js';
import { HandshakeError, InvalidArgumentError, NoSuchMethodError, NoSuchServiceError, NodeStoppedError, ReceiverStoppedError, UnreachableError } from './errors.js';
import { machineId as readMachineId } from './machine-id.js';
import { robotSecret } from './robot-secret.js';
import { nodeTls, type NodeTls } from './transport/node-tls.js';
import { Mailbox, type MailboxOptions } from './mailbox.js';
import { PendingCalls } from './pending-calls.js';
import { checkCallOptions, makeHandle, type CallOptions, type Remote } from './remote.js';
import { RemoteActor, type Peer, type PeerHost } from './routing/peer.js';
import { nodeKey, Router, type RouterHost } from './routing/router.js';
import { DEFAULT_MAX_FRAME } from './codec/frames.js';
import { ServiceTarget, type Found } from './service-target.js';
import { isServiceClass, ServiceBehaviour, type Service, type ServiceContext, type ServiceHost } from './service.js';
import { SignalQueue } from './signal.js';
import { isSupervisorSpec, supervisor, type Child, type Startable, type SupervisorSpec } from './supervision/child-spec.js';
import { MAX_TREE_WORKERS, SupervisorBehaviour, type ChildInfo, type Subtree, type SupervisorHost, type TreeNode } from './supervision/supervisor.js';
import { PlacedChild, type PlacementHost } from './placement/placed-child.js';
import { MetricsSampler, type MetricsSource } from './observe/metrics.js';
import { OtelMetrics } from './observe/otel-metrics.js';
import { activeContext, endedWith, refreshTracing, startClientSpan, tracingState } from './observe/tracing.js';
import type { Path } from './address.js';

export interface StartOptions {
  /** This computer's id; default `QIACT_MACHINE_ID`, else the persisted one. */
  machineId?: string;
  /** Default call timeout in ms; default `QIACT_CALL_TIMEOUT_MS`, else 30000. */
  callTimeout?: number;
  /**
   * Restart intensity of each service started with `node.spawn`, counted for each on its own:
   * default 10 restarts in 10 seconds. A service restarted more often is given up (see `onTreeDown`).
   */
  servicesIntensity?: { intensity: number; period: number };
  /**
   * Told when the node gives up one of what `node.spawn` and `node.supervise` started: a service
   * restarted more often than `servicesIntensity` allows, or a tree whose own supervisor gave up
   * (as an OTP application stops when its top supervisor does). It is stopped and removed; the
   * node's other services run on, each with its own fate. Default: a warning. A tree or service
   * started with `critical: true` takes the whole node down instead (see `onDown`).
   */
  onTreeDown?: (event: TreeDown) => void;
  /** Where runtime warnings go (a post that failed, a dropped post...); default stderr. */
  onWarning?: (message: string, error?: unknown) => void;
  /** Time source for deadlines and restart windows; tests may pass a ManualClock. */
  clock?: Clock;
  /** The environment to read `QIACT_*` variables from; default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /**
   * Endpoints to listen on besides the node's own Unix socket, e.g. `['tcp:192.168.1.10:0']`
   * (port 0: any free port). A `unix:/path` here replaces the default socket path. Default
   * `QIACT_LISTEN` (comma-separated), else none: the node is then reachable from this machine only.
   */
  listen?: string[];
  /**
   * The node whose directory this node uses, as one of its endpoints (`tcp:host:port`,
   * `unix:/path`). Default `QIACT_DIRECTORY`; with neither, the node runs an embedded directory.
   */
  directory?: string;
  /**
   * How long `start` waits for a directory that cannot be reached yet (on a robot, systemd starts
   * units in parallel: the directory may come a moment later), trying again with backoff (100 ms
   * doubling to 2 s) and saying once that it waits. Default: as long as it takes; 0 fails at once.
   */
  directoryWait?: number;
  /**
   * The embedded directory's bound on the services it holds: past it a registration is refused
   * (a flood of them cannot exhaust the node's memory). Default 100,000.
   */
  directoryCapacity?: number;
  /** Drop a peer that has not proven itself this many ms after connecting. Default 5000. */
  handshakeTimeout?: number;
  /**
   * The largest message this node takes from another process or machine, in bytes (its CBOR
   * payload; large ones come in slices). Default `QIACT_MAX_MESSAGE_BYTES`, else 16 MiB; at most
   * 4 GiB − 1. A node never sends a peer more than the peer said it takes: such a call fails
   * with BAD_MESSAGE and the link goes on. Service processes and workers this node starts get it too.
   */
  maxMessageBytes?: number;
  /**
   * How far V8 lets this process's heap grow past what its last full collection kept before it
   * starts the next (V8's `--heap-growing-percent`; 0 leaves V8 its own choice). Default
   * `QIACT_HEAP_GROWING_PERCENT`, else V8's own. Process-wide, as V8's flags are: it is set when
   * the node starts, the service processes it starts get it as a `node` command-line flag, and
   * its workers share it. Why: V8 counts the memory of received payloads (outside its heap)
   * towards the limit that starts a full collection, and a small heap's limit is a few MB away,
   * so a process taking camera frames runs full collections back to back. 300 moved 1 MiB echoes
   * at about twice the MB/s (README, "Large payloads and V8's heap"), for a heap that may grow to
   * four times what it keeps (at most half way to its maximum).
   */
  heapGrowingPercent?: number;
  /**
   * The robot's secret, which every node of the robot proves it holds on every link (at least
   * 16 characters). Default `QIACT_SECRET`, else the file `~/.config/qiact/secret`, created
   * once; copy it to the robot's other computers.
   */
  secret?: string;
  /**
   * This node's certificate for `tls:host:port` endpoints between the robot's computers (PEM
   * texts: its certificate and key, and the robot's CA). Default the files named by
   * `QIACT_TLS_CERT`, `QIACT_TLS_KEY`, `QIACT_TLS_CA`; else none. With one, the node dials the
   * `tls:` endpoints of other machines that offer any.
   */
  tls?: NodeTls;
  /**
   * Called when the node goes down on its own: its root supervisor gave up (too many restarts).
   * The node is stopped by then. Default: one line on stderr, then the process (or the worker
   * thread) exits with code 3, so that systemd or any process manager restarts it.
   */
  onDown?: (reason: Error) => void;
  /** @internal set by a parent node for the nodes it starts in workers and child processes. */
  directoryAt?: { address: string; endpoints: readonly string[] };
}

/**
 * Makes the directory a node embeds when it uses no other node's: the ServiceDirectory of
 * actors/directory/, wired in by `start` (the core knows the directory only by its words, in
 * directory/entries.ts). `attached` is told the directory's address each time it (re)starts.
 */
export type MakeDirectory = (attached: (self: Address) => void, endpoints: () => readonly string[]) => Service;

/** One of what `node.spawn` or `node.supervise` started, given up by the node. */
export interface TreeDown {
  /** Its id (as `ActorRef.id`), name in the directory if any, and what it ran (class or strategy). */
  readonly id: string;
  readonly name: string | undefined;
  readonly label: string;
  readonly type: 'worker' | 'supervisor';
  /** Times it was restarted before. */
  readonly restarts: number;
  /** How it last exited (a tree: its supervisor's RestartIntensityError). */
  readonly reason: Error;
  /** Why it is not restarted, in words. */
  readonly why: string;
}

/** Supervisors get control messages only; their bound is high so no exit notice is lost. */
const SUPERVISOR_MAILBOX: MailboxOptions = { capacity: 1_000_000 };

/**
 * The promise of call `env`, its settling functions kept on the envelope. A closure per call,
 * on purpose: it and the envelope are both new, so the stores cost nothing, where keeping the
 * functions in module variables (old objects) took two of V8's write barriers a call, ~5 % of an
 * in-thread call (bench/latency.ts, same-thread row).
 */
function promiseOf(env: Envelope): Promise<unknown> {
  return new Promise((resolve, reject) => {
    env.resolve = resolve;
    env.reject = reject;
  });
}

/**
 * The machinery of one node: its actor table, the one call/post path every message goes
 * through, and what supervisors, services and the directory client need from the node.
 * Internal: users hold the `Node` facade.
 */
export class NodeCore implements ActorHost, SupervisorHost, ServiceHost, DirectoryHost, PeerHost, RouterHost, PlacementHost, MetricsSource {
  readonly machineId: string;
  readonly secret: Buffer;
  readonly tls: NodeTls | undefined;
  readonly processId = process.pid;
  readonly threadId = currentThreadId;
  readonly clock: Clock;
  readonly callTimeout: number;
  readonly maxMessageBytes: number;
  /** What this node set V8's heap growing to (heapGrowingPercent), if anything. */
  readonly heapGrowingPercent: number | undefined;
  readonly pending: PendingCalls;
  readonly directory: DirectoryClient;
  readonly router: Router;
  /** This node's own address (actor 0): the sender of calls made from outside any actor. */
  readonly self: Address;
  readonly #prefix: string;
  readonly #options: StartOptions;
  readonly #actors = new Map<number, Actor>();
  readonly #signals: SignalQueue;
  readonly #onWarning: (message: string, error?: unknown) => void;
  readonly #servicesIntensity: { intensity: number; period: number };
  #nextActorId = 1;
  /** Another node's directory, when this node runs none. */
  #remoteDirectory: { address: string; endpoints: readonly string[] } | undefined;
  root: Actor | null = null;
  /** The dynamic supervisor that holds what `node.spawn` and `node.supervise` start. */
  services: Actor | null = null;
  stopped = false;
  #stopping: Promise<void> | null = null;
  /** Nodes this node placed in workers and processes, and how each ended (placed-child.ts). */
  readonly #childNodes = new Map<string, Promise<ExitReason>>();
  /** Pauses (backoffs) to cut short when the node stops. */
  readonly #pauses = new Set<() => void>();
  /** The spec of the services supervisor, whose children have separate fates. */
  #servicesSpec: SupervisorSpec | null = null;
  /** Ids of spawned services and trees whose giving up takes the node down. */
  readonly critical = new Set<string>();

  readonly directoryFactory: BehaviourFactory;
  readonly metrics = new MetricsSampler(this);
  readonly #otelMetrics = new OtelMetrics(() => this.metrics.sample());

  constructor(options: StartOptions, makeDirectory: MakeDirectory) {
    const env = options.env ?? process.env;
    this.machineId = options.machineId ?? readMachineId(env);
    this.secret = robotSecret(options.secret, env);
    this.tls = nodeTls(options.tls, env);
    this.clock = options.clock ?? systemClock;
    const fromEnv = env.QIACT_CALL_TIMEOUT_MS;
    this.callTimeout = options.callTimeout ?? (fromEnv ? Number(fromEnv) : 30_000);
    checkCallOptions({ timeout: this.callTimeout });
    this.#servicesIntensity = options.servicesIntensity ?? { intensity: 10, period: 10_000 };
    this.#onWarning = options.onWarning ?? ((message, error) => console.warn(`qiact: ${message}`, error ?? ''));
    this.pending = new PendingCalls(this.clock, (env) => env.target.target(env.method));
    this.directory = new DirectoryClient(this);
    this.self = new Address(this.machineId, this.processId, this.threadId, 0 as ActorId);
    this.nodeKey = nodeKey(this.self);
    this.#prefix = `${this.nodeKey}/`;
    this.#options = options;
    const maxFromEnv = env.QIACT_MAX_MESSAGE_BYTES;
    this.maxMessageBytes = options.maxMessageBytes ?? (maxFromEnv ? Number(maxFromEnv) : DEFAULT_MAX_FRAME);
    if (!Number.isSafeInteger(this.maxMessageBytes) || this.maxMessageBytes < 4096 || this.maxMessageBytes > 0xffffffff) {
      throw new InvalidArgumentError('maxMessageBytes', `${String(options.maxMessageBytes ?? maxFromEnv)} must be a whole number of bytes from 4096 to 4294967295`);
    }
    this.heapGrowingPercent = heapGrowingPercentOf(options.heapGrowingPercent, env);
    if (this.heapGrowingPercent !== undefined) setFlagsFromString(`--heap-growing-percent=${this.heapGrowingPercent}`);
    this.router = new Router(this, { maxFrame: this.maxMessageBytes, ...(options.handshakeTimeout === undefined ? {} : { handshakeTimeout: options.handshakeTimeout }) });
    this.#signals = new SignalQueue((error) => this.warn('a signal subscriber threw', error));
    refreshTracing();
    this.directoryFactory = {
      kind: 'behaviour',
      label: DIRECTORY_NAME,
      create: () =>
        new ServiceBehaviour(
          makeDirectory(
            (self) => this.directory.attach(this.#actors.get(self.actorId)!),
            () => this.router.endpoints,
          ),
          this,
        ),
    };
  }

  /**
   * Listens on the node's endpoints, finds or starts the directory, then starts the root
   * supervisor: the embedded directory (unless another node's is used), then the services supervisor.
   */
  async boot(): Promise<void> {
    const env = this.#options.env ?? process.env;
    const listen = this.#options.listen ?? (env.QIACT_LISTEN ? env.QIACT_LISTEN.split(',').map((e) => e.trim()).filter(Boolean) : []);
    let remote: { address: string; endpoints: readonly string[] } | undefined;
    try {
      await this.router.listen(listen, env);
      remote = this.#options.directoryAt ?? (await this.#findDirectory(this.#options.directory ?? env.QIACT_DIRECTORY));
    } catch (error) {
      this.router.close();
      throw error;
    }
    this.#remoteDirectory = remote;
    if (remote !== undefined) {
      const address = Address.parse(remote.address);
      this.router.learn(address, remote.endpoints);
      this.directory.useRemote(address);
    }
    const embedded = remote === undefined ? [{ id: 'directory', start: this.directoryFactory, name: DIRECTORY_NAME }] : [];
    this.#servicesSpec = supervisor({ strategy: 'dynamic', ...this.#servicesIntensity });
    const rootSpec = supervisor({
      strategy: 'one_for_one',
      intensity: 3,
      period: 5000,
      children: [...embedded, { id: 'services', start: this.#servicesSpec }],
    });
    const root = this.newActor(new SupervisorBehaviour(rootSpec, this), 'root', SUPERVISOR_MAILBOX);
    try {
      await root.start();
    } catch (error) {
      this.router.close();
      throw error;
    }
    this.root = root;
    this.services = this.#supervisorChild('services');
  }

  /** Asks the node at `endpoint` where its directory is. */
  async #findDirectory(endpoint: string | undefined): Promise<{ address: string; endpoints: readonly string[] } | undefined> {
    if (endpoint === undefined || endpoint === '') return undefined;
    const wait = this.#options.directoryWait ?? Infinity;
    const since = this.clock.now();
    let delay = 100;
    for (;;) {
      try {
        return { address: await this.#askDirectory(await this.router.connectTo(endpoint), endpoint), endpoints: [endpoint] };
      } catch (error) {
        // Only a directory that is not there (yet) is waited for; a bad URL or a node that runs no
        // directory is a mistake to report at once.
        const absent = error instanceof UnreachableError || error instanceof HandshakeError;
        if (!absent || this.clock.now() - since + delay > wait) throw error;
        if (delay === 100) this.warn(`waiting for the directory at ${endpoint} (${(error as Error).message}); is it running, with this robot's secret?`);
        await new Promise<void>((resolve) => this.clock.setTimer(resolve, delay));
        delay = Math.min(delay * 2, 2000);
      }
    }
  }

  async #askDirectory(peer: Peer, where: string): Promise<string> {
    const node = new RemoteActor(`${peer.key}/0`, 'node');
    const address = (await this.callVia(peer, node, '@directory', [], this.callTimeout)) as string | null;
    if (address === null) throw new InvalidArgumentError('directory', `the node at ${where} runs no directory`);
    return address;
  }

  /**
   * The directory this node uses went away. If its node is still connected, its supervisor is
   * restarting it there: ask that node. Otherwise its process went away: dial its endpoints again
   * (a new process at the same endpoints is the directory's new node).
   */
  async findDirectoryAgain(): Promise<Address> {
    const known = this.#remoteDirectory!;
    const old = Address.parse(known.address);
    let found: string | undefined;
    const peer = this.router.peers.get(nodeKey(old));
    if (peer !== undefined && !peer.closed) found = await this.#askDirectory(peer, peer.key);
    else {
      let lastError: unknown = new UnreachableError(known.address, 'no endpoint known');
      for (const endpoint of known.endpoints) {
        try {
          found = await this.#askDirectory(await this.router.connectTo(endpoint), endpoint);
          break;
        } catch (error) {
          lastError = error;
        }
      }
      if (found === undefined) throw lastError;
    }
    const address = Address.parse(found);
    this.#remoteDirectory = { address: found, endpoints: known.endpoints };
    return address;
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
    if (address.localityOf(this.self) !== 'same-thread') return undefined;
    return this.#actors.get(address.actorId);
  }

  // ---- what peers need: this node's actors by address text ----

  localActor(to: string): Actor | undefined {
    if (!to.startsWith(this.#prefix)) return undefined;
    const id = Number(to.slice(this.#prefix.length));
    return id === 0 ? undefined : this.#actors.get(id);
  }

  isSelf(to: string): boolean {
    return to === this.self.text;
  }

  /** `machineId/processId/threadId`. */
  readonly nodeKey: string;

  // ---- what the metrics sampler reads ----

  actors(): Iterable<Actor> {
    return this.#actors.values();
  }

  get actorCount(): number {
    return this.#actors.size;
  }

  /**
   * How metrics name `actor`: its service name (registered here, or that of the service a
   * stand-in runs elsewhere; the directory's own), a supervisor's id, or null for an unnamed
   * actor (whose `name` is its generated child id).
   */
  metricsNameOf(actor: Actor): string | null {
    const behaviour = actor.behaviour;
    if (behaviour instanceof SupervisorBehaviour || actor === this.directory.localActor) return actor.name ?? null;
    if (behaviour instanceof PlacedChild) return behaviour.child.name ?? null;
    return this.directory.nameOf(actor);
  }

  placementOf(actor: Actor): 'thread' | 'worker' | 'process' {
    return actor.behaviour instanceof PlacedChild ? actor.behaviour.child.in : 'thread';
  }

  get openLinks(): ReadonlySet<Peer> {
    return this.router.open;
  }

  reconnectsTo(key: string): number {
    return this.router.reconnectsTo(key);
  }

  /** Requests to the node itself (actor 0). */
  nodeRequest(method: string, _args: unknown[]): unknown {
    switch (method) {
      case '@tree':
        return this.tree();
      case '@directory': {
        const local = this.directory.localActor;
        return local !== null ? local.address.text : null;
      }
      case '@endpoints':
        return this.router.endpoints;
      case '@metrics':
        return this.metrics.sample();
    }
    throw new NoSuchMethodError({ service: `node ${this.self.text}`, method, address: this.self.text }, ['@directory', '@endpoints', '@metrics', '@tree']);
  }

  directoryWhereabouts(): { address: string; endpoints: readonly string[] } {
    if (this.#remoteDirectory !== undefined) return this.#remoteDirectory;
    const local = this.directory.localActor;
    if (local === null) throw new NodeStoppedError(`${this.self.text}: its directory is down`);
    return { address: local.address.text, endpoints: this.router.endpoints };
  }

  childListen(): string[] {
    return this.router.endpoints.filter((e) => e.startsWith('tcp:') || e.startsWith('tls:')).map((e) => e.replace(/:\d+$/, ':0'));
  }

  /** Links our `local` actor with an actor of another node: each side watches the other. */
  linkRemote(local: Actor, other: Address): void {
    const peer = this.router.peerFor(other);
    this.linkFromPeer(peer, local, other.text);
    peer.link(other.text, local.address.text);
  }

  linkFromPeer(peer: Peer, target: Actor, from: string): void {
    const cancel = peer.monitor(from, target.address.text, (reason) => {
      if (isAbnormal(reason)) target.crash(new LinkedExitError(from, reason));
    });
    target.onExit(cancel);
  }

  childNode(node: string, endpoints: readonly string[], exited: Promise<ExitReason>): void {
    this.#childNodes.set(node, exited);
    this.router.learn(node, endpoints);
    // Forgotten a while after it ended: monitors of it have fired by then.
    void exited.then(() => setTimeout(() => this.#childNodes.delete(node), 5000).unref());
  }

  childExit(node: string): Promise<ExitReason> | undefined {
    return this.#childNodes.get(node);
  }

  peerClosed(peer: Peer, reason: Error | undefined): void {
    this.router.peerClosed(peer);
    // The directory forgets what was registered over that link (never by a name a peer gave).
    const directory = this.directory.localActor;
    if (directory !== null && !this.stopped) this.post(directory, 'linkClosed', [peer.id]);
    if (reason !== undefined && !this.stopped) this.warn(`link to ${peer.key} closed: ${reason.message}`);
  }

  // ---- the call path: every call and post inside the node goes through these two ----

  callActor(actor: Actor, method: string, args: unknown[], timeoutMs: number, signal?: AbortSignal): Promise<unknown> {
    const env = new Envelope(actor, method, args, true);
    const promise = promiseOf(env);
    this.pending.track(env, timeoutMs, signal);
    if (tracingState.on) return this.#tracedCall(env, promise, actor.label, 'direct', null);
    if (env.state === PENDING) actor.deliver(env);
    return promise;
  }

  /**
   * A call to an actor of this thread, answered in the caller's turn when that actor is idle
   * (Actor.handleNow): its value, or a promise when the actor is busy or answers with one;
   * throws the call's error. For the node's own requests to its directory.
   */
  callNow(actor: Actor, method: string, args: unknown[], timeoutMs: number): unknown {
    if (tracingState.on) return this.callActor(actor, method, args, timeoutMs);
    const env = new Envelope(actor, method, args, true);
    // Answered in this turn: no promise, no deadline. handleNow does not nest, so one pair of
    // callbacks and one answer serve every such call.
    env.resolve = this.#answeredNow;
    env.reject = this.#failedNow;
    const handled = actor.handleNow(env);
    if (env.state !== PENDING) {
      const { value, failed } = this.#answer;
      this.#answer.value = undefined;
      if (failed) throw value;
      return value;
    }
    const promise = promiseOf(env);
    this.pending.track(env, timeoutMs, undefined);
    if (!handled && env.state === PENDING) actor.deliver(env);
    return promise;
  }

  readonly #answer = { value: undefined as unknown, failed: false };
  readonly #answeredNow = (value: unknown): void => {
    this.#answer.value = value;
    this.#answer.failed = false;
  };
  readonly #failedNow = (error: unknown): void => {
    this.#answer.value = error;
    this.#answer.failed = true;
  };

  post(actor: Actor, method: string, args: unknown[]): void {
    const env = new Envelope(actor, method, args, false);
    if (tracingState.on) env.trace = activeContext();
    actor.deliver(env);
  }

  /**
   * A call made while tracing: its CLIENT span, whose context travels with the message and ends
   * with the outcome. The runtime's own requests (`@describe`, …) make no span; a subscription
   * carries the caller's context to the service without one.
   */
  #tracedCall(env: Envelope, promise: Promise<unknown>, service: string, path: Path, via: { peer: Peer; to: RemoteActor } | null): Promise<unknown> {
    const send = (): void => {
      if (env.state !== PENDING) return;
      if (via === null) (env.target as Actor).deliver(env);
      else via.peer.call(env, via.to.address, this.self.text);
    };
    if (env.method.startsWith('@')) {
      if (env.method.startsWith('@subscribe')) env.trace = activeContext();
      send();
      return promise;
    }
    const { span, ctx } = startClientSpan(service, env.method, path, this.nodeKey);
    env.trace = ctx;
    send();
    return endedWith(span, promise);
  }

  call(actor: Actor, method: string, args: unknown[]): Promise<unknown> {
    return this.callActor(actor, method, args, this.callTimeout);
  }

  /** A call to an actor of another node, on the connection to that node. */
  callVia(peer: Peer, to: RemoteActor, method: string, args: unknown[], timeoutMs: number, signal?: AbortSignal): Promise<unknown> {
    const env = new Envelope(to, method, args, true);
    const promise = promiseOf(env);
    this.pending.track(env, timeoutMs, signal);
    if (tracingState.on) return this.#tracedCall(env, promise, to.target(method).service, peer.path, { peer, to });
    if (env.state === PENDING) peer.call(env, to.address, this.self.text);
    return promise;
  }

  postVia(peer: Peer, to: RemoteActor, method: string, args: unknown[]): void {
    peer.post(to.address, this.self.text, method, args, tracingState.on ? activeContext() : null);
  }

  /** Subscribes to `member` of a service on another node; resolves to the subscription's number there. */
  subscribeVia(peer: Peer, to: RemoteActor, member: string, deliver: (value: unknown) => void, end: (reason: string) => void, timeoutMs: number): Promise<number> {
    const env = new Envelope(to, `@subscribe ${member}`, [], true);
    const promise = promiseOf(env);
    this.pending.track(env, timeoutMs, undefined);
    if (tracingState.on) env.trace = activeContext();
    const sub = peer.subscribe(env, to.address, this.self.text, member, (value) => this.dispatch(deliver, value), end);
    return promise.then(() => sub);
  }

  /** Calls the actor at `address`, wherever it lives (not for hot paths: handles keep their route). */
  callAddress(address: Address, method: string, args: unknown[], timeoutMs: number): Promise<unknown> {
    if (address.localityOf(this.self) === 'same-thread') {
      const actor = this.#actors.get(address.actorId);
      if (actor === undefined) return Promise.reject(new ReceiverStoppedError({ service: address.text, method, address: address.text }, 'noproc'));
      return this.callActor(actor, method, args, timeoutMs);
    }
    return this.callVia(this.router.peerFor(address), new RemoteActor(address.text, undefined), method, args, timeoutMs);
  }

  subscribeAddress(address: Address, member: string, deliver: (value: unknown) => void, end: (reason: string) => void, timeoutMs: number): Promise<number> {
    return this.subscribeVia(this.router.peerFor(address), new RemoteActor(address.text, undefined), member, deliver, end, timeoutMs);
  }

  postAddress(address: Address, method: string, args: unknown[]): void {
    const local = this.actorAt(address);
    if (local !== undefined) this.post(local, method, args);
    else if (address.localityOf(this.self) !== 'same-thread') this.router.peerFor(address).post(address.text, this.self.text, method, args);
  }

  /** Death watch on an actor of another node (or of this one); returns the canceller. */
  monitorRemote(address: Address, watcher: (reason: ExitReason) => void): () => void {
    const local = this.actorAt(address);
    if (local !== undefined || address.localityOf(this.self) === 'same-thread') {
      if (local === undefined) {
        queueMicrotask(() => watcher('noproc'));
        return () => {};
      }
      return local.monitor((down) => watcher(down.reason));
    }
    return this.router.peerFor(address).monitor(address.text, this.self.text, watcher);
  }

  // ---- hosts ----

  dispatch<T>(fn: (value: T) => void, value: T): void {
    this.#signals.dispatch(fn, value);
  }

  actorExited(actor: Actor, reason: ExitReason): void {
    this.#actors.delete(actor.address.actorId);
    this.directory.release(actor);
    if (actor === this.root && !this.stopped) {
      const error = reason instanceof Error ? reason : new Error(`the root supervisor stopped (${reason})`);
      this.#goDown(`its root supervisor gave up (${error.message})`, error);
    }
  }

  /** The node cannot go on: it stops for good, then says so (by default the process exits). */
  #goDown(why: string, error: Error): void {
    this.warn(`${why}; this node is down`);
    void this.stop().then(() => (this.#options.onDown ?? exitOnDown(this.self.text, why))(error));
  }

  /** The services supervisor gave up one of its children (and that one alone). */
  #treeDown(child: ChildInfo, reason: Error, why: string): void {
    const critical = this.critical.delete(child.id);
    if (this.stopped) return;
    const what = `${child.type === 'supervisor' ? 'tree' : 'service'} '${child.id}' (${child.label})`;
    if (critical) return this.#goDown(`critical ${what} was given up: ${why}`, reason);
    const event: TreeDown = { id: child.id, name: child.name, label: child.label, type: child.type, restarts: child.restarts, reason, why };
    const told = this.#options.onTreeDown;
    if (told === undefined) this.warn(`${what} was given up and stopped: ${why}; the node's other services run on`, reason);
    else this.dispatch(told, event);
  }

  warn(message: string, error?: unknown): void {
    this.#onWarning(message, error);
  }

  behaviourFor(start: Startable, child?: Child): Behaviour {
    if (child !== undefined && child.in !== 'thread') return new PlacedChild(child, this);
    if (isServiceClass(start)) return new ServiceBehaviour(new start(), this);
    if (start === this.#servicesSpec) return new SupervisorBehaviour(start, this, { gaveUp: (c, reason, why) => this.#treeDown(c, reason, why) });
    if (isSupervisorSpec(start)) return new SupervisorBehaviour(start, this);
    return start.create();
  }

  /**
   * Starts one child: reserve its name, start it, then declare it ready, as libqi does. An
   * unnamed child in this thread whose start returns no promise is started at once.
   */
  startChild(child: Child, _parent: Actor): Actor | null | Promise<Actor | null> {
    const behaviour = this.behaviourFor(child.start, child);
    const actor = this.newActor(behaviour, child.name ?? child.id, child.type === 'supervisor' ? SUPERVISOR_MAILBOX : child.mailbox);
    // The directory registers itself; a child placed in a worker or process registers from there.
    if (child.name !== undefined && child.start !== this.directoryFactory && child.in === 'thread') return this.#startRegistered(child.name, actor);
    const started = actor.start();
    if (typeof started === 'boolean') return started ? actor : null;
    return started.then((ok) => (ok ? actor : null));
  }

  /**
   * Reserves the name, starts the actor, then makes it visible: libqi's two steps around the
   * start. At once, with no promise, when the directory is this node's and idle and the actor
   * starts at once (an idle service spawned by name).
   */
  #startRegistered(name: string, actor: Actor): Actor | null | Promise<Actor | null> {
    let registered: void | Promise<void>;
    try {
      registered = this.directory.register(name, actor, this.callTimeout);
    } catch (error) {
      actor.kill();
      throw error;
    }
    if (registered === undefined) return this.#startAndReady(actor);
    return registered.then(
      () => this.#startAndReady(actor),
      (error: unknown) => {
        actor.kill();
        throw error;
      },
    );
  }

  #startAndReady(actor: Actor): Actor | null | Promise<Actor | null> {
    const started = actor.start();
    if (typeof started !== 'boolean') return started.then((ok) => (ok ? this.#ready(actor) : null));
    return started ? this.#ready(actor) : null;
  }

  /**
   * Step two. If the directory does not take it (unreachable, or no answer in time), the start
   * fails: the actor, started but never visible, is stopped (its onStop runs, its name is given
   * back) rather than left running where no one can find it, holding the name a restart needs.
   */
  #ready(actor: Actor): Actor | Promise<Actor> {
    const notReady = (error: unknown): never => {
      void actor.stop('shutdown');
      throw error;
    };
    let ready: void | Promise<void>;
    try {
      ready = this.directory.ready(actor, this.callTimeout);
    } catch (error) {
      return notReady(error);
    }
    return ready === undefined ? actor : ready.then(() => actor, notReady);
  }

  infoFor(actor: Actor, name: string): Registration {
    return { name, machineId: this.machineId, processId: this.processId, endpoints: this.router.endpoints, address: actor.address.text };
  }

  contextFor(actor: Actor): ServiceContext {
    return {
      self: actor.address,
      name: actor.name,
      service: <T>(name: string, options?: CallOptions) => this.handle<T>(name, options, actor),
      serviceAt: <T>(address: Address | string, options?: CallOptions) => this.handleAt<T>(typeof address === 'string' ? Address.parse(address) : address, options, actor),
      stop: () => void actor.stop('normal'),
      warn: (message: string, error?: unknown) => this.warn(`${actor.label}: ${message}`, error),
      onExit: (fn: () => void) => actor.onExit(fn),
      caller: () => this.#callerOf(actor),
    };
  }

  #callerOf(actor: Actor): Caller {
    const env = handling.env;
    if (env === null || env.target !== actor) throw new InvalidArgumentError('caller', `${actor.label}: the caller is known only while a message is handled, before its first await`);
    const link = env.link;
    return link === null ? (this.#ownCaller ??= Object.freeze({ node: this.nodeKey, link: null })) : { node: link.key, link: link.id };
  }

  /** The caller of every message sent from this thread: one object, not one per question. */
  #ownCaller: Caller | null = null;

  // ---- handles ----

  /**
   * The node's supervision tree: root, directory, and everything spawned; of a supervisor with
   * more than MAX_TREE_WORKERS worker children, the first of them and `childCount`.
   */
  async tree(): Promise<TreeNode> {
    const root = this.root;
    const alive = root !== null && root.alive;
    const sub = alive ? ((await this.call(root, '@tree', [MAX_TREE_WORKERS])) as Subtree) : { children: [], count: 0 };
    return {
      id: 'root',
      name: undefined,
      address: alive ? root.address.text : null,
      type: 'supervisor',
      restart: 'permanent',
      in: 'thread',
      label: 'supervisor(one_for_one)',
      restarts: 0,
      strategy: 'one_for_one',
      children: sub.children,
      ...(sub.count > sub.children.length ? { childCount: sub.count } : {}),
    };
  }

  /** Calls the node `key` (machineId/processId/threadId) itself: actor 0. */
  callNode(key: string, method: string, timeoutMs: number): Promise<unknown> {
    if (key === nodeKey(this.self)) return Promise.resolve(this.nodeRequest(method, []));
    return this.callAddress(Address.parse(`${key}/0`), method, [], timeoutMs);
  }

  async find(name: string, timeoutMs: number): Promise<Found> {
    if (this.stopped) throw new NodeStoppedError(this.self.text);
    const info = await this.directory.lookup(name, timeoutMs);
    const address = Address.parse(info.address);
    if (address.localityOf(this.self) !== 'same-thread') {
      this.router.learn(address, info.endpoints);
      return { info, address, actor: null };
    }
    const actor = this.#actors.get(address.actorId);
    if (actor === undefined || !actor.alive) throw new NoSuchServiceError(name);
    return { info, address, actor };
  }

  /** A handle bound to the actor at `address` (see Node.serviceAt). */
  async handleAt<T>(address: Address, options: CallOptions | undefined, owner: Actor | undefined): Promise<Remote<T>> {
    checkCallOptions(options);
    if (this.stopped) throw new NodeStoppedError(this.self.text);
    const timeout = options?.timeout ?? this.callTimeout;
    let actor: Actor | null = null;
    if (address.localityOf(this.self) === 'same-thread') {
      actor = this.#actors.get(address.actorId) ?? null;
      if (actor === null || !actor.alive) throw new ReceiverStoppedError({ service: address.text, method: '@describe', address: address.text }, 'noproc');
      // A child placed in a worker or a process is stood for here by its supervisor's proxy:
      // the handle goes to the service itself, over there.
      if (actor.behaviour instanceof PlacedChild) {
        address = Address.parse((await this.callActor(actor, '@address', [], timeout)) as string);
        actor = null;
      }
    }
    const info = { name: address.text, serviceId: 0, machineId: address.machineId, processId: address.processId, endpoints: [], address: address.text };
    const target = new ServiceTarget(this, address.text, { info, address, actor }, timeout, options?.signal, owner, true);
    const description = (await target.call('@describe', [], undefined)) as ServiceDescription;
    return makeHandle<T>(target, description);
  }

  async handle<T>(name: string, options: CallOptions | undefined, owner: Actor | undefined): Promise<Remote<T>> {
    checkCallOptions(options);
    const timeout = options?.timeout ?? this.callTimeout;
    const target = new ServiceTarget(this, name, await this.find(name, timeout), timeout, options?.signal, owner);
    const description = (await target.call('@describe', [], undefined)) as ServiceDescription;
    return makeHandle<T>(target, description);
  }

  /** Waits `ms`, or less if the node stops meanwhile: a stopped program is not kept alive by it. */
  pause(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        this.clock.clearTimer(timer);
        this.#pauses.delete(done);
        resolve();
      };
      const timer = this.clock.setTimer(done, ms);
      this.#pauses.add(done);
    });
  }

  /** Stops the node (once; later calls get the same promise). */
  stop(): Promise<void> {
    return (this.#stopping ??= this.#stop());
  }

  async #stop(): Promise<void> {
    this.stopped = true;
    this.#otelMetrics.close();
    for (const done of [...this.#pauses]) done();
    this.directory.close();
    await this.root?.stop('shutdown');
    for (const actor of this.#actors.values()) actor.kill();
    this.router.close();
    this.pending.close((env) => new NodeStoppedError(`${this.self.text} (call to ${env.target.target(env.method).service}.${env.method})`));
  }
}

/**
 * What a node does by default when its root supervisor gives up: one line, then the process (or,
 * in a worker, the thread) exits with code 3, as an OTP node halts when a permanent application
 * dies, so that whatever manages it starts it again.
 */
function exitOnDown(node: string, why: string): (reason: Error) => void {
  return () => {
    process.stderr.write(`qiact: node ${node} is down: ${why}; exiting with code 3\n`);
    process.exit(3);
  };
}

/** The heapGrowingPercent option, else QIACT_HEAP_GROWING_PERCENT; undefined for neither. A whole number from 0 to 1000. */
function heapGrowingPercentOf(given: number | undefined, env: NodeJS.ProcessEnv): number | undefined {
  const fromEnv = env.QIACT_HEAP_GROWING_PERCENT;
  if (given === undefined && (fromEnv === undefined || fromEnv === '')) return undefined;
  const value = given ?? Number(fromEnv);
  if (!Number.isSafeInteger(value) || value < 0 || value > 1000) {
    throw new InvalidArgumentError(given === undefined ? 'QIACT_HEAP_GROWING_PERCENT' : 'heapGrowingPercent', `${String(given ?? fromEnv)} must be a whole number from 0 to 1000`);
  }
  return value;
}
