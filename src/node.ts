import type { ServiceInfo } from './directory/entries.js';
import { LinkedExitError, type Actor, type Down } from './actor.js';
import { Address } from './address.js';
import { InvalidArgumentError } from './errors.js';
import type { NodeCore, StartOptions } from './node-core.js';
import { routeIfHandle, type CallOptions, type Remote, type Route } from './remote.js';
import type { SupervisorBehaviour } from './supervision/supervisor.js';
import type { ChildSpec, Placement, RestartType, ShutdownPolicy, Startable, SupervisorSpec } from './supervision/child-spec.js';
import type { ChildInfo, TreeNode } from './supervision/supervisor.js';
import type { MailboxOptions } from './mailbox.js';
import type { NodeMetrics } from './observe/metrics.js';

export type { StartOptions };

export interface SpawnOptions {
  /** Register the service in the directory under this name. */
  name?: string;
  /** Child id in the services supervisor; default derived from the name. */
  id?: string;
  restart?: RestartType;
  shutdown?: ShutdownPolicy;
  mailbox?: MailboxOptions;
  /** Where it lives: `thread` (default), `worker` (a new worker thread) or `process` (a new child process). */
  in?: Placement;
  /** With `worker` / `process`: the module exporting the service (usually `import.meta.url`). */
  module?: string | URL;
  /** With `worker` / `process`: the export to start; default the class name. */
  export?: string;
  /**
   * Giving it up takes the whole node down (`onDown`), as an OTP permanent application does;
   * by default only it is stopped, and `onTreeDown` is told.
   */
  critical?: boolean;
}

/** A node as the directory sees it. */
export interface NodeInfo {
  /** `machineId/processId/threadId`. */
  readonly node: string;
  readonly machineId: string;
  readonly processId: number;
  readonly threadId: number;
  readonly endpoints: readonly string[];
  /** The names of the services it offers. */
  readonly services: readonly string[];
}

/** A running actor started by the node. */
export interface ActorRef {
  readonly id: string;
  readonly name: string | undefined;
  readonly address: Address;
  /** Stops it for good (through its supervisor, so it is not restarted). */
  stop(): Promise<void>;
}

/** A running supervisor: OTP's supervisor API. */
export interface SupervisorRef extends ActorRef {
  whichChildren(): Promise<ChildInfo[]>;
  countChildren(): Promise<{ specs: number; active: number; supervisors: number; workers: number }>;
  /**
   * Starts a new child; resolves to its id (generated when the spec has none, in a dynamic
   * supervisor) and address text, or null when it declined to start.
   */
  startChild(spec: ChildSpec | Omit<ChildSpec, 'id'>): Promise<{ id: string; address: string } | null>;
  terminateChild(id: string): Promise<void>;
  restartChild(id: string): Promise<string | null>;
  deleteChild(id: string): Promise<void>;
  tree(): Promise<TreeNode[]>;
}

/**
 * A qiact node: the runtime of one thread. It owns the actors of the thread, a root supervisor
 * with the embedded directory, and the supervisor that holds what you spawn.
 */
export class Node {
  readonly #core: NodeCore;
  #spawned = 0;

  /** @internal use `start()`. */
  constructor(core: NodeCore) {
    this.#core = core;
  }

  get machineId(): string {
    return this.#core.machineId;
  }
  get processId(): number {
    return this.#core.processId;
  }
  get threadId(): number {
    return this.#core.threadId;
  }
  /** Where this node can be reached: `port:` (threads of this process), `unix:`, `tcp:`. */
  get endpoints(): readonly string[] {
    return this.#core.router.endpoints;
  }
  /** Default call timeout in milliseconds. */
  get callTimeout(): number {
    return this.#core.callTimeout;
  }
  /** What this node set V8's heap growing to (the `heapGrowingPercent` start option), if anything. */
  get heapGrowingPercent(): number | undefined {
    return this.#core.heapGrowingPercent;
  }

  /**
   * Starts a service (a Service class, `fromMachine(...)`, or a supervisor spec) under the node's
   * services supervisor, which restarts it per `restart`. Resolves once it runs (and, with a
   * name, is visible in the directory); null if it declined to start.
   */
  async spawn(start: Startable, options: SpawnOptions = {}): Promise<ActorRef | null> {
    const { name, id, critical, ...rest } = options;
    const childId = id ?? `${name ?? labelOf(start)}-${++this.#spawned}`;
    const sup = this.#core.currentServices();
    const spec: ChildSpec = name === undefined ? { ...rest, id: childId, start } : { ...rest, id: childId, start, name };
    const started = (await this.#core.call(sup, 'startChild', [spec])) as { address: string } | null;
    if (started === null) return null;
    if (critical === true) this.#core.critical.add(childId);
    return this.#ref(childId, name, Address.parse(started.address));
  }

  /**
   * Starts a supervision tree under the node; returns its supervisor. Each tree has its own fate:
   * when its supervisor gives up, that tree alone is stopped and `onTreeDown` is told (or, with
   * `critical: true`, the node goes down).
   */
  async supervise(spec: SupervisorSpec, options: { id?: string; critical?: boolean } = {}): Promise<SupervisorRef> {
    const ref = await this.spawn(spec, options);
    return this.#supervisorRef(ref!);
  }

  /**
   * A child of the services supervisor, as OTP's registered name follows a process: its address
   * is that of the child's current run (a restart makes a new actor), and `stop` asks whichever
   * services supervisor runs now.
   */
  #ref(id: string, name: string | undefined, first: Address): ActorRef {
    const core = this.#core;
    let last = first;
    return {
      id,
      name,
      get address(): Address {
        const now = (core.currentServices().behaviour as SupervisorBehaviour).childActor(id);
        if (now !== null) last = now.address;
        return last;
      },
      stop: async () => {
        core.critical.delete(id);
        await core.call(core.currentServices(), 'terminateChild', [id]);
      },
    };
  }

  #supervisorRef(ref: ActorRef): SupervisorRef {
    const core = this.#core;
    // The supervisor's current run: after its tree was restarted, the new one (as a registered name in OTP).
    const actor = (): Actor => {
      const a = core.stopped ? null : (core.currentServices().behaviour as SupervisorBehaviour).childActor(ref.id);
      if (!a) throw new InvalidArgumentError('supervisor', `${ref.id} (${ref.address.text}) is not running`);
      return a;
    };
    // A supervisor that is gone rejects the promise, it does not throw at the call site.
    const ask = (method: string, ...args: unknown[]): Promise<unknown> => {
      let to: Actor;
      try {
        to = actor();
      } catch (error) {
        return Promise.reject(error);
      }
      return core.call(to, method, args);
    };
    return {
      id: ref.id,
      name: ref.name,
      get address(): Address {
        return ref.address;
      },
      stop: ref.stop,
      whichChildren: () => ask('whichChildren') as Promise<ChildInfo[]>,
      countChildren: () => ask('countChildren') as Promise<{ specs: number; active: number; supervisors: number; workers: number }>,
      startChild: (spec) => ask('startChild', spec) as Promise<{ id: string; address: string } | null>,
      terminateChild: async (id) => void (await ask('terminateChild', id)),
      restartChild: (id) => ask('restartChild', id) as Promise<string | null>,
      deleteChild: async (id) => void (await ask('deleteChild', id)),
      tree: () => ask('tree') as Promise<TreeNode[]>,
    };
  }

  /**
   * A typed handle on a service, found by name in the directory:
   * `const counter = await node.service<Counter>('counter'); await counter.add(2)`.
   * `options` are the defaults of every call made through the handle.
   */
  service<T>(name: string, options?: CallOptions): Promise<Remote<T>> {
    return this.#core.handle<T>(name, options, undefined);
  }

  /**
   * A typed handle on one actor by its address, for actors without a name (a child that a
   * dynamic supervisor's `startChild` returned, one per person in view): OTP's pid. Calls go
   * straight to that actor, wherever it lives. It does not follow restarts: once that actor has
   * stopped (its supervisor may start a new one, at a new address), calls fail with
   * ReceiverStoppedError (its exit reason, or `noproc`), posts go nowhere, and subscriptions
   * end. Rejects with ReceiverStoppedError (`noproc`) if no actor runs at `address` in this
   * thread; one on another node is asked for its description, as a handle by name is.
   */
  serviceAt<T>(address: Address | ActorRef | string, options?: CallOptions): Promise<Remote<T>> {
    return this.#core.handleAt<T>(this.#address(address), options, undefined);
  }

  /** Every ready service the directory knows. */
  services(): Promise<ServiceInfo[]> {
    return this.#core.directory.list(this.#core.callTimeout);
  }

  /**
   * Death watch on an actor wherever it lives: `watcher` runs once when it stops, with the
   * reason; at once (`noproc`) if it is not running; with `noconnection` if the link to its node
   * is lost. Returns a function that cancels the watch.
   */
  monitor(target: ActorRef | Address | string | object, watcher: (down: Down) => void): () => void {
    const route = routeIfHandle(target);
    if (route !== undefined) return this.#monitorService(route, watcher);
    const address = this.#address(target as ActorRef | Address | string);
    const local = this.#core.actorAt(address);
    if (local !== undefined) return local.monitor(watcher);
    return this.#core.monitorRemote(address, (reason) => watcher({ address, name: undefined, reason }));
  }

  /**
   * A handle's service, in the run it has now (found by name: a crash and restart since the
   * handle's last call made a new actor), watched like any actor.
   */
  #monitorService(route: Route, watcher: (down: Down) => void): () => void {
    let cancel: (() => void) | null = null;
    let cancelled = false;
    this.#core.find(route.service, this.#core.callTimeout).then(
      ({ address }) => {
        if (!cancelled) cancel = this.monitor(address, watcher);
      },
      () => {
        if (!cancelled) watcher({ address: Address.parse(route.address), name: route.service, reason: 'noproc' });
      },
    );
    return () => {
      cancelled = true;
      cancel?.();
    };
  }

  /**
   * Links two actors, at least one of them in this thread: when either stops abnormally (or the
   * link to the other's node is lost), the other crashes too and is restarted by its supervisor.
   */
  link(a: ActorRef | Address | string, b: ActorRef | Address | string): void {
    const [aa, bb] = [this.#address(a), this.#address(b)];
    const x = this.#core.actorAt(aa);
    const y = this.#core.actorAt(bb);
    if (x && y) return x.link(y);
    const local = x ?? y;
    const other = x ? bb : aa;
    if (!local) throw new InvalidArgumentError('link', `neither ${aa.text} nor ${bb.text} is running in this thread`);
    if (other.localityOf(local.address) === 'same-thread') {
      // Linked to an actor that is gone: as OTP's link to a dead process, an exit with `noproc`
      // (the same as a monitor reports, and as a link to a gone actor of another node does).
      queueMicrotask(() => local.crash(new LinkedExitError(other.text, 'noproc')));
      return;
    }
    this.#core.linkRemote(local, other);
  }

  #address(target: ActorRef | Address | string): Address {
    if (typeof target === 'string') return Address.parse(target);
    if (target instanceof Address) return target;
    return target.address;
  }

  /** The node's whole supervision tree: root, directory, and everything spawned. */
  tree(): Promise<TreeNode> {
    return this.#core.tree();
  }

  /**
   * The nodes the directory knows of (every node that offers a service, and the directory's
   * own), with their endpoints and service names.
   */
  async nodes(): Promise<NodeInfo[]> {
    const byKey = new Map<string, { machineId: string; processId: number; threadId: number; endpoints: readonly string[]; services: string[] }>();
    for (const s of await this.services()) {
      const address = Address.parse(s.address);
      const key = `${address.machineId}/${address.processId}/${address.threadId}`;
      let node = byKey.get(key);
      if (node === undefined) {
        byKey.set(key, (node = { machineId: address.machineId, processId: address.processId, threadId: address.threadId, endpoints: s.endpoints, services: [] }));
        this.#core.router.learn(key, s.endpoints);
      }
      node.services.push(s.name);
    }
    return [...byKey].map(([node, info]) => ({ node, ...info }));
  }

  /** The supervision tree of another node (a `node` key from `nodes()`), or of this one. */
  async treeOf(node: string): Promise<TreeNode> {
    return (await this.#core.callNode(node, '@tree', this.#core.callTimeout)) as TreeNode;
  }

  /**
   * A sample of this node: every actor (mailbox depth now and at its peak, messages handled,
   * failures by code, restarts, handling time), every link (messages and bytes each way, write
   * buffer, reconnects), the thread's event loop and the memory. Counters run all the time; a
   * sample only reads them.
   */
  metrics(): NodeMetrics {
    return this.#core.metrics.sample();
  }

  /** A sample of another node (a `node` key from `nodes()`), or of this one. */
  async metricsOf(node: string): Promise<NodeMetrics> {
    return (await this.#core.callNode(node, '@metrics', this.#core.callTimeout)) as NodeMetrics;
  }

  /**
   * Samples of every node of the robot the directory knows (each node that offers a service,
   * and the directory's), taken at once; a node that does not answer within the call timeout
   * (it just went away) is left out.
   */
  async robotMetrics(): Promise<NodeMetrics[]> {
    const samples = await Promise.allSettled((await this.nodes()).map((n) => this.metricsOf(n.node)));
    return samples.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  }

  /** Stops everything in reverse start order (services first, the directory last). */
  stop(): Promise<void> {
    return this.#core.stop();
  }
}

function labelOf(start: Startable): string {
  if (typeof start === 'function') return start.name || 'service';
  return start.kind === 'supervisor' ? 'supervisor' : start.label;
}
