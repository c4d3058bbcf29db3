import type { Path } from '../address.js';
import { unreachableReason } from '../signal.js';
import { reasonText, type Actor, type ExitReason } from '../actor.js';
import { fromWire, toWire } from '../codec/wire-error.js';
import { Envelope, PENDING, type CallLink, type Destination } from '../envelope.js';
import { BadMessageError, ReceiverStoppedError, UnreachableError, type CallTarget } from '../errors.js';
import { parseMessage, type Message, type MessageOf } from '../messages.js';
import type { PendingCalls } from '../pending-calls.js';
import { MAX_TIMEOUT_MS } from '../remote.js';
import type { Link } from '../transport/link.js';
import { receiveBuffers } from '../transport/receive-buffers.js';
import { carrierOf, contextFrom, runIn, tracingState, type Context } from '../observe/tracing.js';

/** A call, post or subscribe message with the optional W3C trace context it may carry. */
type Traced = { trace?: Record<string, string> };

/** Puts the trace context on an outgoing message (only while tracing: otherwise there is none). */
function withTrace<M extends Message>(message: M, ctx: Context | null): M {
  if (ctx === null) return message;
  const carrier = carrierOf(ctx);
  if (carrier !== undefined) (message as M & Traced).trace = carrier;
  return message;
}

/** What a peer needs from its node. */
export interface PeerHost {
  readonly pending: PendingCalls;
  /** The running actor of this node that `to` names; undefined if it is not ours or not running. */
  localActor(to: string): Actor | undefined;
  /** True when `to` names this node itself (actor 0): node-level requests. */
  isSelf(to: string): boolean;
  /** This node's identity, `machineId/processId/threadId`. */
  readonly nodeKey: string;
  nodeRequest(method: string, args: unknown[]): unknown;
  /** The peer asks that its actor `from` be linked with our actor `target`. */
  linkFromPeer(peer: Peer, target: Actor, from: string): void;
  callActor(actor: Actor, method: string, args: unknown[], timeoutMs: number): Promise<unknown>;
  post(actor: Actor, method: string, args: unknown[]): void;
  warn(message: string, error?: unknown): void;
  peerClosed(peer: Peer, reason: Error | undefined): void;
  /** If `node` is a child node this node placed in a worker or process: why it ended, soon. */
  childExit(node: string): Promise<ExitReason> | undefined;
}

/** An actor on another node, as the sender of a call names it in errors. */
export class RemoteActor implements Destination {
  constructor(
    readonly address: string,
    readonly name: string | undefined,
  ) {}
  target(method: string): CallTarget {
    return { service: this.name ?? this.address, method, address: this.address };
  }
}

interface OutboundSubscription {
  readonly listener: (value: unknown) => void;
  readonly end: (reason: string) => void;
}

interface ServedSubscription {
  readonly actor: Actor;
  readonly member: string;
  /** The service's own id of the subscription, once it answered. */
  id: number | null;
}

/** A watch our node holds on an actor of the peer. */
type Watcher = (reason: ExitReason) => void;

/** Numbers every link of this thread: what a registration made over a link is bound to. */
let linksMade = 0;

/** Runtime members a peer may not call or post to: they are reached through `subscribe` only. */
const INTERNAL_MEMBERS = new Set(['@subscribe', '@unsubscribe']);

/**
 * Our side of the one connection to another node, shared by all the actors of both. It exists
 * from the first message for that node: while the link is being set up, messages wait in order;
 * once up, they go out as they come. It keeps what must be undone if the link dies: the calls
 * waiting for a reply, the subscriptions and monitors in both directions. When the link closes
 * (the peer crashed, was killed, or sent garbage) every pending call is rejected at once with
 * UnreachableError, subscriptions end and monitors fire with `noconnection`.
 */
export class Peer implements CallLink {
  /** This link's number, unique in the thread (a node may have two links to one peer). */
  readonly id = ++linksMade;
  #link: Link | null = null;
  #queue: unknown[] | null = [];
  #closed = false;
  readonly #calls = new Map<number, Envelope>();
  #nextId = 1;
  readonly #subscriptions = new Map<number, OutboundSubscription>();
  #nextSub = 1;
  readonly #served = new Map<number, ServedSubscription>();
  readonly #watches = new Map<number, Watcher>();
  #nextRef = 1;
  readonly #watching = new Map<number, () => void>();
  /** Why the link closed, once it has. */
  closeReason: Error | undefined;

  /** `key/`: every actor the peer may name as a sender starts with it. */
  readonly #senderPrefix: string;

  constructor(
    private readonly host: PeerHost,
    /** The peer node's identity, `machineId/processId/threadId`, as proven in the handshake. */
    readonly key: string,
    /** The path chosen; a socket path is settled once the dial knows which endpoint answered. */
    public path: Path,
  ) {
    this.#senderPrefix = `${key}/`;
  }

  get up(): boolean {
    return this.#link !== null && !this.#closed;
  }
  get closed(): boolean {
    return this.#closed;
  }
  /** Calls sent on this link still waiting for their reply (for diagnostics and tests). */
  get waiting(): number {
    return this.#calls.size;
  }
  /** The link that carries this connection once it is up (for metrics). */
  get carrier(): Link | null {
    return this.#link;
  }

  /**
   * The link is up (handshake done): send what waited, handle `early` (messages that came right
   * behind the peer's hello), then take over the link's messages.
   */
  attach(link: Link, early: readonly unknown[] = []): void {
    if (this.#closed) {
      link.close();
      return;
    }
    this.#link = link;
    link.onMessage = (message, received) => this.#receive(message, received);
    link.onRefused = (message, error) => this.#refused(message as Message, error);
    void link.closed.then((reason) => this.#closedBy(reason));
    const queued = this.#queue!;
    this.#queue = null;
    for (const message of queued) this.#send(message as Message);
    for (const message of early) this.#receive(message);
  }

  /** Closes the link (or gives up connecting); everything waiting on it fails with `reason`. */
  close(reason?: Error): void {
    if (this.#link !== null) this.#link.close(reason);
    else this.#closedBy(reason);
  }

  /**
   * Closes the link cleanly, after what is queued has been sent (replies included); calls
   * still waiting here fail with `reason`. For a node that stops.
   */
  stop(reason: Error): void {
    if (this.#closed) return;
    this.closeReason = reason;
    if (this.#link !== null) this.#link.close();
    else this.#closedBy(reason);
  }

  // ---- sending ----

  /**
   * `sender` and `receiver`: for a message that does not name them (a reply, a signal value), the
   * two actors whose order it keeps (see orderKeyOf).
   */
  #send(message: Message, sender?: string, receiver?: string): boolean {
    if (this.#closed) return false;
    if (this.#queue !== null) {
      this.#queue.push(message);
      return true;
    }
    try {
      return this.#link!.send(message, sender, receiver);
    } catch (error) {
      this.#refused(message, error as Error);
      return false;
    }
  }

  /** Sends a tracked call: its envelope settles on reply, fail, timeout, cancel or link loss. */
  call(env: Envelope, to: string, from: string): void {
    this.#track(env);
    this.#send(withTrace({ kind: 'call', id: env.id, to, from, method: env.method, args: env.args, timeout: env.timeoutMs }, env.trace));
  }

  #track(env: Envelope): void {
    if (this.#closed) {
      this.host.pending.reject(env, this.#unreachable());
      return;
    }
    const id = this.#nextId++;
    env.link = this;
    env.id = id;
    this.#calls.set(id, env);
  }

  post(to: string, from: string, method: string, args: unknown[], trace: Context | null = null): boolean {
    return this.#send(withTrace({ kind: 'post', to, from, method, args }, trace));
  }

  /** Subscribes to `member` of `to`; `env` settles when the peer accepted (or refused) it. */
  subscribe(env: Envelope, to: string, from: string, member: string, listener: (value: unknown) => void, end: (reason: string) => void): number {
    const sub = this.#nextSub++;
    this.#subscriptions.set(sub, { listener, end });
    this.#track(env);
    if (env.state !== PENDING) {
      this.#subscriptions.delete(sub);
      return sub;
    }
    this.#send(withTrace({ kind: 'subscribe', id: env.id, to, from, member, sub }, env.trace));
    return sub;
  }

  unsubscribe(to: string, sub: number): void {
    if (this.#subscriptions.delete(sub)) this.#send({ kind: 'unsubscribe', to, sub });
  }

  /** Death watch on an actor of the peer; returns the canceller. */
  monitor(target: string, from: string, watcher: Watcher): () => void {
    if (this.#closed) {
      queueMicrotask(() => watcher('noconnection'));
      return () => {};
    }
    const ref = this.#nextRef++;
    this.#watches.set(ref, watcher);
    this.#send({ kind: 'monitor', ref, target, from });
    return () => {
      if (this.#watches.delete(ref)) this.#send({ kind: 'demonitor', ref, target });
    };
  }

  /** Asks the peer to link its actor `target` with our actor `from`. */
  link(target: string, from: string): void {
    this.#send({ kind: 'link', target, from });
  }

  // ---- CallLink: the envelope side ----

  forget(id: number): void {
    this.#calls.delete(id);
  }

  reply(env: Envelope, value: unknown): void {
    this.#send({ kind: 'reply', id: env.id, value }, (env.target as Actor).address.text, env.from ?? undefined);
  }

  fail(env: Envelope, error: unknown): void {
    this.#failId(env.id, error, (env.target as Actor).address.text, env.from ?? undefined);
  }

  #replyId(id: number, value: unknown, sender?: string, receiver?: string): void {
    this.#send({ kind: 'reply', id, value }, sender, receiver);
  }

  #failId(id: number, error: unknown, sender?: string, receiver?: string): void {
    this.#send({ kind: 'fail', id, error: toWire(error) as unknown as Record<string, unknown> }, sender, receiver);
  }

  /** A message the link could not carry: its sender hears of it, the link goes on. */
  #refused(message: Message, error: Error): void {
    switch (message.kind) {
      case 'call':
      case 'subscribe': {
        const env = this.#calls.get(message.id);
        if (env !== undefined) this.host.pending.reject(env, new BadMessageError(message.kind, 'args', `cannot be sent to ${this.key}: ${error.message}`));
        return;
      }
      case 'reply':
        this.#send({ kind: 'fail', id: message.id, error: toWire(new BadMessageError('reply', 'value', `cannot be sent back: ${error.message}`)) as unknown as Record<string, unknown> });
        return;
      default:
        this.host.warn(`a '${message.kind}' message to ${this.key} could not be sent`, error);
    }
  }

  // ---- receiving ----

  /** `received`: the buffer a large payload was put together in (see receive-buffers.ts). */
  #receive(raw: unknown, received?: Buffer): void {
    let m: Message;
    try {
      m = parseMessage(raw);
      // The identity is the link's: a sender must be an actor of the node that proved itself here.
      const from = (m as { from?: string }).from;
      if (from !== undefined && !(from.length > this.#senderPrefix.length && from.startsWith(this.#senderPrefix))) {
        throw new BadMessageError(m.kind, 'from', `names ${shortText(from)}, not an actor of ${this.key} (the node at the other end of this link)`);
      }
      if ((m.kind === 'call' || m.kind === 'post') && INTERNAL_MEMBERS.has(m.method)) {
        throw new BadMessageError(m.kind, 'method', `'${m.method}' is reached with a subscribe message, not called`);
      }
    } catch (error) {
      this.host.warn(`closing the link to ${this.key}: ${(error as Error).message}`);
      this.close(error as Error);
      return;
    }
    switch (m.kind) {
      case 'call':
        return this.#receiveCall(m, received);
      case 'reply': {
        const env = this.#calls.get(m.id);
        if (env === undefined) return;
        if (received !== undefined) receiveBuffers.offer(received);
        this.host.pending.resolve(env, m.value);
        return;
      }
      case 'fail': {
        const env = this.#calls.get(m.id);
        if (env !== undefined) this.host.pending.reject(env, fromWire(m.error, env.target.target(env.method)));
        return;
      }
      case 'post': {
        const actor = this.host.localActor(m.to);
        if (actor !== undefined) {
          const env = new Envelope(actor, m.method, m.args, false);
          env.link = this; // who sent it, for the service (context.caller)
          if (received !== undefined) receiveBuffers.lend(m.args, received);
          if (tracingState.on) env.trace = contextFrom((m as Traced).trace);
          actor.deliver(env);
        } else this.host.warn(`post ${m.method} from ${m.from} dropped: no actor ${m.to} runs here`);
        return;
      }
      case 'subscribe':
        return this.#receiveSubscribe(m);
      case 'unsubscribe': {
        const served = this.#served.get(m.sub);
        this.#served.delete(m.sub);
        if (served?.id != null && served.actor.alive) this.host.post(served.actor, '@unsubscribe', [served.member, served.id]);
        return;
      }
      case 'signal':
        this.#subscriptions.get(m.sub)?.listener(m.value);
        return;
      case 'ended': {
        const sub = this.#subscriptions.get(m.sub);
        this.#subscriptions.delete(m.sub);
        sub?.end(m.reason);
        return;
      }
      case 'monitor':
        return this.#receiveMonitor(m);
      case 'demonitor':
        this.#watching.get(m.ref)?.();
        this.#watching.delete(m.ref);
        return;
      case 'down': {
        const watcher = this.#watches.get(m.ref);
        this.#watches.delete(m.ref);
        watcher?.(exitReasonOf(m.reason));
        return;
      }
      case 'link': {
        const actor = this.host.localActor(m.target);
        // A target that is not running: the asking side's own watch on it reports `noproc`.
        if (actor !== undefined) this.host.linkFromPeer(this, actor, m.from);
        return;
      }
      case 'hello':
      case 'proof':
        this.close(new BadMessageError(m.kind, 'kind', 'came again after the handshake'));
    }
  }

  #receiveCall(m: MessageOf<'call'>, received: Buffer | undefined): void {
    const actor = this.host.localActor(m.to);
    if (actor === undefined) {
      if (this.host.isSelf(m.to)) {
        // Some answers take a while (the tree asks every supervisor): settle when ready.
        new Promise((resolve) => resolve(this.host.nodeRequest(m.method, m.args))).then(
          (value) => this.#replyId(m.id, value),
          (error: unknown) => this.#failId(m.id, error),
        );
        return;
      }
      this.#failId(m.id, this.#notHere(m.to, m.method));
      return;
    }
    const env = new Envelope(actor, m.method, m.args, true);
    if (received !== undefined) receiveBuffers.lend(m.args, received);
    env.link = this;
    env.id = m.id;
    env.inbound = true;
    env.from = m.from;
    // The runtime's own requests (@describe, …) make no span, as on the caller's side.
    if (tracingState.on && !m.method.startsWith('@')) env.trace = contextFrom((m as Traced).trace);
    this.host.pending.track(env, Math.min(Math.max(m.timeout, 1), MAX_TIMEOUT_MS), undefined);
    actor.deliver(env);
  }

  #receiveSubscribe(m: MessageOf<'subscribe'>): void {
    const actor = this.host.localActor(m.to);
    if (actor === undefined) {
      this.#failId(m.id, this.#notHere(m.to, `@subscribe ${m.member}`));
      return;
    }
    const served: ServedSubscription = { actor, member: m.member, id: null };
    this.#served.set(m.sub, served);
    const service = actor.address.text;
    const deliver = (value: unknown): void => {
      if (this.#served.get(m.sub) === served) this.#send({ kind: 'signal', sub: m.sub, value }, service, m.from);
    };
    const end = (reason: string): void => {
      if (this.#served.get(m.sub) !== served) return;
      this.#served.delete(m.sub);
      this.#send({ kind: 'ended', sub: m.sub, reason }, service, m.from);
    };
    const subscribe = (): Promise<unknown> => this.host.callActor(actor, '@subscribe', [m.member, deliver, end], 30_000);
    (tracingState.on ? runIn(contextFrom((m as Traced).trace), subscribe) : subscribe()).then(
      (id) => {
        served.id = id as number;
        // Unsubscribed (or the link closed) while the service was answering: undo it there.
        if (this.#served.get(m.sub) !== served && actor.alive) this.host.post(actor, '@unsubscribe', [m.member, id]);
        this.#replyId(m.id, m.sub, service, m.from);
      },
      (error: unknown) => {
        this.#served.delete(m.sub);
        this.#failId(m.id, error, service, m.from);
      },
    );
  }

  /**
   * Why a message for `to` has no receiver here: its actor stopped (`noproc`), or it names another
   * node, and a node does not forward: the caller must dial the node that hosts it.
   */
  #notHere(to: string, method: string): Error {
    if (to.startsWith(`${this.host.nodeKey}/`)) return new ReceiverStoppedError({ service: to, method, address: to }, 'noproc');
    return new UnreachableError(to, `not on this node (${this.host.nodeKey}): a node does not forward; dial the node that hosts it (the directory's lookup gives its endpoints)`);
  }

  #receiveMonitor(m: MessageOf<'monitor'>): void {
    const actor = this.host.localActor(m.target);
    if (actor === undefined) {
      this.#send({ kind: 'down', ref: m.ref, target: m.target, reason: 'noproc' });
      return;
    }
    const cancel = actor.monitor((down) => {
      if (!this.#watching.delete(m.ref)) return;
      this.#send({ kind: 'down', ref: m.ref, target: m.target, reason: reasonText(down.reason) });
    });
    this.#watching.set(m.ref, cancel);
  }

  // ---- closing ----

  #unreachable(): UnreachableError {
    if (this.closeReason instanceof UnreachableError) return this.closeReason;
    const why = this.closeReason ? this.closeReason.message : 'the link closed';
    return new UnreachableError(this.key, why, this.closeReason ? { cause: this.closeReason } : undefined);
  }

  /**
   * Monitors through a closed link fire with `noconnection`, unless the node at the other end is a
   * worker or process this node placed: then with why it ended (its exit code or signal), which
   * its carrier reports a moment after the link closes (waited for up to a second).
   */
  #fire(watches: Watcher[]): void {
    if (watches.length === 0) return;
    const exit = this.host.childExit(this.key);
    if (exit === undefined) {
      for (const watcher of watches) watcher('noconnection');
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<ExitReason>((resolve) => (timer = setTimeout(() => resolve('noconnection'), 1000)));
    void Promise.race([exit, late]).then((reason) => {
      clearTimeout(timer);
      for (const watcher of watches) watcher(reason);
    });
  }

  #closedBy(reason: Error | undefined): void {
    if (this.#closed) return;
    this.#closed = true;
    this.closeReason ??= reason;
    reason = this.closeReason;
    this.#queue = null;
    this.host.peerClosed(this, reason);
    const error = this.#unreachable();
    for (const env of [...this.#calls.values()]) this.host.pending.reject(env, error);
    this.#calls.clear();
    const subs = [...this.#subscriptions.values()];
    this.#subscriptions.clear();
    for (const sub of subs) sub.end(unreachableReason(error.message));
    const watches = [...this.#watches.values()];
    this.#watches.clear();
    this.#fire(watches);
    for (const served of this.#served.values()) {
      if (served.id !== null && served.actor.alive) this.host.post(served.actor, '@unsubscribe', [served.member, served.id]);
    }
    this.#served.clear();
    for (const cancel of this.#watching.values()) cancel();
    this.#watching.clear();
  }
}

/** A peer's text cut short for a log line: a megabyte of address must not become a megabyte of log. */
function shortText(text: string): string {
  return text.length <= 80 ? `'${text}'` : `'${text.slice(0, 60)}…' (${text.length} characters)`;
}

/** An exit reason from its wire text: the four words stay words, a crash text becomes an Error. */
export function exitReasonOf(text: string): ExitReason {
  if (text === 'normal' || text === 'shutdown' || text === 'killed' || text === 'noproc' || text === 'noconnection') return text;
  return new RemoteExitError(text);
}

/** The crash of an actor on another node, as its monitors there see it. */
export class RemoteExitError extends Error {
  override readonly name = 'RemoteExitError';
}
