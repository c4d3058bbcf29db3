import { connect as netConnect, Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { tlsDialOptions, type NodeTls } from '../transport/node-tls.js';
import type { MessagePort } from 'node:worker_threads';
import { Address, type ActorId, type Locality, type Path } from '../address.js';
import type { Clock } from '../clock.js';
import { HandshakeError, UnreachableError } from '../errors.js';
import { handshake, type NodeIdentity, type Role } from '../transport/handshake.js';
import type { Link } from '../transport/link.js';
import { PortLink } from '../transport/port-link.js';
import { SocketLink } from '../transport/socket-link.js';
import { withSharedReads } from '../transport/shared-reads.js';
import { candidates, formatEndpoint, parseEndpoint, type Endpoint } from './endpoints.js';
import { Listeners, socketFolder } from './listeners.js';
import { Peer, type PeerHost } from './peer.js';
import { portBroker } from './port-broker.js';

export interface RouterHost extends PeerHost {
  readonly clock: Clock;
  /** The robot's secret, proven on every link (robot-secret.ts). */
  readonly secret: Buffer;
  /** This node's certificate for `tls:` links, if it has one. */
  readonly tls: NodeTls | undefined;
  readonly machineId: string;
  readonly processId: number;
  readonly threadId: number;
}

export interface RouterOptions {
  /** A peer that has not proven itself this long after connecting is dropped. Default 5 s. */
  handshakeTimeout?: number;
  /** Largest frame accepted from a socket peer that proved itself, in bytes. Default 16 MiB. */
  maxFrame?: number;
  /** Connections per listener still in their handshake; more are closed at once. Default 64. */
  maxUnproven?: number;
}

/**
 * Largest frame a peer may send before it has proven itself: a hello or a proof is under 300
 * bytes, so a stranger cannot make a node buffer more than this per connection.
 */
export const UNPROVEN_MAX_FRAME = 4096;

let socketsMade = 0;

/** A node's identity: its address without the actor id. */
export function nodeKey(a: { machineId: string; processId: number; threadId: number }): string {
  return `${a.machineId}/${a.processId}/${a.threadId}`;
}

/**
 * Picks the path to another node from the two addresses alone (see DESIGN.md, Locality and
 * routing) and keeps one connection per node, shared by all actors of both:
 *
 * - same process, other thread: a MessagePort made for the pair on first use (port-broker.ts);
 * - same machine: the node's Unix socket;
 * - other machine: TCP, never to a loopback address unless that is all the node advertises.
 *
 * Socket endpoints are dialled in parallel and the first to answer is kept. Every new link,
 * dialled or accepted, starts with the handshake; a link that fails it is closed alone.
 */
const DIAL_BACKOFF_FIRST_MS = 100;
const DIAL_BACKOFF_MAX_MS = 5000;

export class Router {
  readonly #peers = new Map<string, Peer>();
  /** Links made to each node, by key. */
  readonly #linksMade = new Map<string, number>();
  /** Every open connection, including a second one a node opened to us while we dialled it. */
  readonly #open = new Set<Peer>();
  readonly #known = new Map<string, readonly string[]>();
  /**
   * Nodes whose last dial failed, and until when they are not dialled again: calls to them fail
   * at once with that dial's error instead of each dialling a node that is down (100 ms,
   * doubling to 5 s; what the directory says of the node's endpoints resets it).
   */
  readonly #backingOff = new Map<string, { peer: Peer; until: number; delay: number }>();
  readonly #listeners: Listeners;
  readonly #broker = portBroker();
  readonly #self: Address;
  readonly #handshakeTimeout: number;
  readonly #maxFrame: number | undefined;
  readonly #maxUnproven: number;
  /** Connections still in their handshake, by the listener (or `port`) that accepted them. */
  readonly #unproven = new Map<string, number>();
  /** Listeners that are refusing connections now (warned once per burst). */
  readonly #busy = new Set<string>();
  #closed = false;

  constructor(
    private readonly host: RouterHost,
    options: RouterOptions = {},
  ) {
    this.#self = new Address(host.machineId, host.processId, host.threadId, 0 as ActorId);
    this.#handshakeTimeout = options.handshakeTimeout ?? 5000;
    this.#maxFrame = options.maxFrame;
    this.#maxUnproven = options.maxUnproven ?? 64;
    this.#listeners = new Listeners((socket, endpoint, text) => this.#accept(this.#socketLink(socket, `${text} (accepted)`), endpoint.kind, text), {
      config: host.tls,
      handshakeTimeoutMs: this.#handshakeTimeout,
      proving: { enter: (listener) => this.#enterProving(listener), leave: (listener) => this.#doneProving(listener) },
    });
    if (this.#broker.available) this.#broker.serve(nodeKey(this.#self), (port, from) => this.#accept(this.#portLink(port, from), 'port', 'port'));
  }

  /** Where this node can be reached: `port:` (threads of this process), `unix:`, then any `tcp:`. */
  get endpoints(): readonly string[] {
    // One list shared until the listeners change: every service registered here carries it.
    const listening = this.#listeners.endpoints;
    if (this.#endpoints === null || this.#endpointsFrom !== listening) {
      const port = this.#broker.available ? [`port:${this.host.processId}/${this.host.threadId}`] : [];
      this.#endpoints = Object.freeze([...port, ...listening]);
      this.#endpointsFrom = listening;
    }
    return this.#endpoints;
  }
  #endpoints: readonly string[] | null = null;
  #endpointsFrom: readonly string[] | null = null;

  /**
   * Starts listening: on this node's own Unix socket, and on each of `extra` (`tcp:host:port`,
   * or `unix:/path` instead of the default socket). Resolves to the endpoints as bound.
   */
  async listen(extra: readonly string[], env: NodeJS.ProcessEnv): Promise<readonly string[]> {
    if (!extra.some((e) => e.startsWith('unix:'))) {
      // A thread may run several nodes over time (or at once, in tests): each gets its own socket.
      const path = `${socketFolder(env)}/${this.host.processId}-${this.host.threadId}-${++socketsMade}.sock`;
      await this.#listeners.listen(`unix:${path}`, true);
    }
    for (const endpoint of extra) await this.#listeners.listen(endpoint);
    return this.endpoints;
  }

  /** Records where the node of `address` listens (from the directory, or configuration). */
  learn(address: Address | string, endpoints: readonly string[]): void {
    const key = typeof address === 'string' ? address : nodeKey(address);
    if (endpoints.length === 0) return;
    const before = this.#known.get(key);
    if (before === undefined || before.join(' ') !== endpoints.join(' ')) this.#backingOff.delete(key);
    this.#known.set(key, endpoints);
  }

  /** The path a message to `address` takes (or will take, once connected). */
  pathTo(address: Address): Path {
    const peer = this.#peers.get(nodeKey(address));
    if (peer !== undefined && !peer.closed) return peer.path;
    return this.#pathFor(address.localityOf(this.#self));
  }

  #pathFor(locality: Locality): Path {
    if (locality === 'same-thread') return 'direct';
    if (locality === 'same-process' && this.#broker.available) return 'port';
    return locality === 'other-machine' ? 'tcp' : 'unix';
  }

  /** The connection to the node of `address`: the one in use, or a new one, connecting now. */
  peerFor(address: Address): Peer {
    const key = nodeKey(address);
    const existing = this.#peers.get(key);
    if (existing !== undefined && !existing.closed) return existing;
    const failed = this.#backingOff.get(key);
    if (failed !== undefined && this.host.clock.now() < failed.until) return failed.peer;
    const locality = address.localityOf(this.#self);
    const peer = new Peer(this.host, key, this.#pathFor(locality));
    if (this.#closed) {
      peer.close(new UnreachableError(key, 'this node is stopped'));
      return peer;
    }
    this.#peers.set(key, peer);
    this.#open.add(peer);
    this.#dial(peer, address, locality).then(
      ({ link, early }) => {
        this.#backingOff.delete(key);
        this.#attach(peer, link, early);
      },
      (error: Error) => {
        const delay = Math.min((failed?.delay ?? DIAL_BACKOFF_FIRST_MS / 2) * 2, DIAL_BACKOFF_MAX_MS);
        this.#backingOff.delete(key);
        this.#backingOff.set(key, { peer, until: this.host.clock.now() + delay, delay });
        // Bounded: the oldest entries (nodes long gone) make room.
        if (this.#backingOff.size > 1000) this.#backingOff.delete(this.#backingOff.keys().next().value!);
        peer.close(error);
      },
    );
    return peer;
  }

  /**
   * Connects to whatever node listens on `endpoint` (a directory URL, say), before knowing who
   * it is: the handshake tells, and the connection then serves that node like any other.
   */
  async connectTo(endpoint: string): Promise<Peer> {
    const parsed = parseEndpoint(endpoint);
    const { socket } = await this.#dialFirst(endpoint, [parsed]);
    const link = this.#socketLink(socket, endpoint);
    const early: unknown[] = [];
    const hello = await this.#handshake(link, 'dial', early);
    const key = nodeKey(hello);
    this.learn(key, [endpoint]);
    const peer = new Peer(this.host, key, parsed.kind);
    const existing = this.#peers.get(key);
    if (existing === undefined || existing.closed) this.#peers.set(key, peer);
    this.#open.add(peer);
    this.#attach(peer, link, early);
    return peer;
  }

  /** Connections up or being set up, by node (for diagnostics and tests). */
  get peers(): ReadonlyMap<string, Peer> {
    return this.#peers;
  }

  /** Every connection not closed yet, the ones still proving themselves too (for metrics). */
  get open(): ReadonlySet<Peer> {
    return this.#open;
  }

  /** Times a link to node `key` was made again after the first (for metrics). */
  reconnectsTo(key: string): number {
    return Math.max(0, (this.#linksMade.get(key) ?? 0) - 1);
  }

  #attach(peer: Peer, link: Link, early: readonly unknown[]): void {
    const made = this.#linksMade;
    made.set(peer.key, (made.get(peer.key) ?? 0) + 1);
    // Bounded: the oldest entries (nodes long gone) make room.
    if (made.size > 1000) made.delete(made.keys().next().value!);
    peer.attach(link, early);
  }

  peerClosed(peer: Peer): void {
    this.#open.delete(peer);
    if (this.#peers.get(peer.key) === peer) this.#peers.delete(peer.key);
  }

  async #dial(peer: Peer, address: Address, locality: Locality): Promise<{ link: Link; early: unknown[] }> {
    let link: Link;
    if (peer.path === 'port') {
      link = this.#portLink(this.#broker.connect(address.threadId, peer.key), address.threadId);
    } else {
      const known = this.#known.get(peer.key) ?? [];
      const list = candidates(locality, known, this.host.tls !== undefined);
      if (list.length === 0) {
        const why = known.length === 0 ? 'no endpoint is known for this node' : `none of its endpoints (${known.join(', ')}) can be reached from ${locality === 'other-machine' ? 'another machine' : 'this machine'}`;
        const tlsOnly = known.some((e) => e.startsWith('tls:')) && this.host.tls === undefined;
        throw new UnreachableError(peer.key, tlsOnly ? `${why} (its tls: endpoints need this node's certificate)` : why);
      }
      const { socket, endpoint } = await this.#dialFirst(peer.key, list);
      peer.path = endpoint.kind;
      link = this.#socketLink(socket, formatEndpoint(endpoint));
    }
    const early: unknown[] = [];
    const hello = await this.#handshake(link, 'dial', early);
    if (nodeKey(hello) !== peer.key) {
      const error = new HandshakeError(link.peer, 'identity', `expected node ${peer.key}, found ${nodeKey(hello)} there`);
      link.close(error);
      throw error;
    }
    return { link, early };
  }

  /** Dials every candidate at once and keeps the first socket that connects. */
  #dialFirst(key: string, list: readonly Endpoint[]): Promise<{ socket: Socket; endpoint: Endpoint }> {
    return new Promise((resolve, reject) => {
      const failures: string[] = [];
      const sockets: Socket[] = [];
      let done = false;
      const timer = this.host.clock.setTimer(() => {
        if (done) return;
        done = true;
        for (const s of sockets) s.destroy();
        reject(new UnreachableError(key, `no endpoint answered within ${this.#handshakeTimeout} ms (${list.map(formatEndpoint).join(', ')})`));
      }, this.#handshakeTimeout);
      for (const endpoint of list) {
        const socket = this.#socketTo(endpoint);
        sockets.push(socket);
        // A TLS socket is ready once both certificates checked out, not at the TCP connect.
        socket.once(endpoint.kind === 'tls' ? 'secureConnect' : 'connect', () => {
          if (done) return void socket.destroy();
          done = true;
          this.host.clock.clearTimer(timer);
          socket.removeAllListeners('error');
          for (const s of sockets) if (s !== socket) s.destroy();
          resolve({ socket, endpoint });
        });
        socket.once('error', (error) => {
          failures.push(`${formatEndpoint(endpoint)}: ${error.message}`);
          if (done || failures.length < list.length) return;
          done = true;
          this.host.clock.clearTimer(timer);
          reject(new UnreachableError(key, `cannot connect (${failures.join('; ')})`));
        });
      }
    });
  }

  #socketTo(endpoint: Endpoint): Socket {
    if (endpoint.kind === 'unix') return withSharedReads((reads) => netConnect({ path: endpoint.path, ...reads }));
    if (endpoint.kind === 'tcp') return withSharedReads((reads) => netConnect({ port: endpoint.port, host: endpoint.host, ...reads }));
    if (this.host.tls === undefined) {
      const socket = new Socket();
      process.nextTick(() => socket.destroy(new Error("a tls: endpoint needs this node's certificate (start({ tls }) or QIACT_TLS_*)")));
      return socket;
    }
    const tls = this.host.tls;
    return withSharedReads((reads) => tlsConnect({ ...tlsDialOptions(tls, endpoint.host, endpoint.port), ...reads }));
  }

  /**
   * Both ends prove they hold the robot's secret (transport/handshake.ts); messages that follow
   * the proof in the same read are kept in `early`, in order, for the peer that takes the link.
   */
  #handshake(link: Link, role: Role, early: unknown[]): Promise<NodeIdentity> {
    const self = { machineId: this.host.machineId, processId: this.host.processId, threadId: this.host.threadId };
    return handshake(link, self, { role, secret: this.host.secret, timeoutMs: this.#handshakeTimeout, clock: this.host.clock, then: (m) => early.push(m) });
  }

  #socketLink(socket: Socket, peer: string): SocketLink {
    return new SocketLink(socket, peer, { maxFrameUntrusted: UNPROVEN_MAX_FRAME, ...(this.#maxFrame === undefined ? {} : { maxFrame: this.#maxFrame }) });
  }

  #portLink(port: MessagePort, thread: number): PortLink {
    return new PortLink(port, `port:${this.host.processId}/${thread}`);
  }

  /**
   * A link another node opened: handshake, then it serves that node (and carries our calls to it
   * if we have none). At most `maxUnproven` connections per listener may be proving themselves
   * at once: past that, a new one is closed at once, so strangers hold bounded memory.
   */
  #accept(link: Link, path: Path, listener: string): void {
    if (this.#closed) return link.close();
    if (!this.#enterProving(listener)) {
      link.close(new HandshakeError(link.peer, 'busy', `${this.#maxUnproven} connections are still proving themselves on ${listener}`));
      return;
    }
    const early: unknown[] = [];
    const proven = this.#handshake(link, 'accept', early);
    void proven.then(
      () => this.#doneProving(listener),
      () => this.#doneProving(listener),
    );
    proven.then(
      (hello) => {
        const key = nodeKey(hello);
        const peer = new Peer(this.host, key, path);
        const existing = this.#peers.get(key);
        if (existing === undefined || existing.closed) this.#peers.set(key, peer);
        this.#open.add(peer);
        this.#attach(peer, link, early);
      },
      (error: HandshakeError) => {
        // A peer that hung up cleanly before hello is not news (e.g. the loser of a parallel dial).
        if (error.reason !== 'closed' || error.cause !== undefined) this.host.warn(`refused a connection on ${link.peer}: ${error.message}`);
      },
    );
  }

  /**
   * Takes a place among the connections proving themselves on `listener`, or refuses: the
   * listener already has `maxUnproven` (a `tls:` one counts those still in their TLS handshake).
   */
  #enterProving(listener: string): boolean {
    const unproven = this.#unproven.get(listener) ?? 0;
    if (unproven >= this.#maxUnproven) {
      if (!this.#busy.has(listener)) this.host.warn(`refusing connections on ${listener}: ${unproven} are still proving themselves (limit ${this.#maxUnproven})`);
      this.#busy.add(listener);
      return false;
    }
    this.#unproven.set(listener, unproven + 1);
    return true;
  }

  #doneProving(listener: string): void {
    const left = (this.#unproven.get(listener) ?? 1) - 1;
    if (left > 0) this.#unproven.set(listener, left);
    else this.#unproven.delete(listener);
    if (left < this.#maxUnproven) this.#busy.delete(listener);
  }

  /** Stops listening and closes every connection; calls waiting on them fail as unreachable. */
  close(): void {
    this.#closed = true;
    this.#listeners.close();
    this.#broker.unserve(nodeKey(this.#self));
    for (const peer of [...this.#open]) peer.stop(new UnreachableError(peer.key, 'this node stopped'));
    this.#peers.clear();
  }
}
