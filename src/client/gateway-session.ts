import type { ServiceDescription } from '../behaviour.js';
import { fromWire } from '../codec/wire-error.js';
import { AuthenticationError, BadMessageError, CallTimeoutError, InvalidArgumentError, NodeStoppedError, UnreachableError, type AuthenticationReason } from '../errors.js';
import { GATEWAY_PROTOCOL_VERSION, isSlicesOffer, parseGatewayMessage, type GatewayMessage } from '../messages.js';
import { checkCallOptions, makeHandle, type CallOptions, type HandleTarget, type Remote, type Subscription } from '../remote.js';
import type { Link } from '../transport/link.js';
import { activeContext, carrierOf, endedWith, refreshTracing, startClientSpan, tracingState } from '../observe/tracing.js';
import type { Dialer, TlsDialOptions } from './tls-dialer.js';
import type { XmppDialOptions } from './xmpp-types.js';
import { unrefTimer } from '../clock.js';

/**
 * How to reach the robot. Through its Gateway (`tls://host:port`): `token` or `cert`/`key`, with
 * `ca`, `servername`, `proxy`. Through XMPP (`xmpp:robot@domain`): this client's own `jid` and
 * `password`, and the XMPP `service` to log in to.
 */
export interface ConnectOptions extends TlsDialOptions, XmppDialOptions {
  /** A bearer token the gateway knows. */
  readonly token?: string;
  /** Default call timeout in ms; default 30000. */
  readonly callTimeout?: number;
  /** Time allowed to connect and authenticate, in ms; default 10000. */
  readonly connectTimeout?: number;
  /** Backoff between reconnection attempts, in ms; default 100 doubling up to 5000. */
  readonly reconnect?: { readonly firstDelay?: number; readonly maxDelay?: number };
  /** Where the session reports a lost connection and its recovery; default stderr. */
  readonly onWarning?: (message: string, error?: unknown) => void;
}

/** A client's session with a robot through its Gateway or XMPP: the same `service<T>(name)` as a node. */
export interface Session {
  /** Who the gateway says this client is. */
  readonly identity: string;
  readonly connected: boolean;
  service<T>(name: string, options?: CallOptions): Promise<Remote<T>>;
  /** The services this client may use. */
  services(): Promise<string[]>;
  /** Ends the session: pending calls fail, subscriptions end, no reconnection. */
  close(): Promise<void>;
}

interface Pending {
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: Error) => void;
  readonly service: string;
  readonly method: string;
  readonly timer: ReturnType<typeof setTimeout>;
}

interface Watch {
  readonly service: string;
  readonly member: string;
  readonly listener: (value: unknown) => void;
  readonly end: (reason: string) => void;
}

/**
 * Opens a session over `dialer` (which says how to reach the robot: TLS, WebSocket, XMPP) and
 * resolves once the gateway has let it in. A refusal is an AuthenticationError with the reason;
 * an unreachable gateway an UnreachableError. Nothing outlives a refused open.
 *
 * When the connection drops later, the session reconnects on its own with backoff and makes its
 * signal subscriptions again; calls made meanwhile wait for it, within their timeout.
 */
export async function openSession(url: string, dialer: Dialer, options: ConnectOptions, offer?: (received: Buffer) => void): Promise<Session> {
  const client = new GatewayClient(url, dialer, options, offer);
  try {
    await client.open();
  } catch (error) {
    // Nothing may outlive a refused connect (an XMPP login would keep reconnecting).
    await client.close();
    throw error;
  }
  return client;
}

class GatewayClient implements Session {
  identity = '';
  readonly #url: string;
  readonly #dialer: Dialer;
  readonly #options: ConnectOptions;
  readonly #timeout: number;
  #link: Link | null = null;
  /** Why the robot ended the session, if it said so (`denied` after `welcome`). */
  #deniedWith: AuthenticationError | null = null;
  #closed = false;
  #nextId = 1;
  readonly #pending = new Map<number, Pending>();
  readonly #watches = new Map<number, Watch>();
  #waiting: (() => void)[] = [];
  #warn: (message: string, error?: unknown) => void;
  readonly #offer: ((received: Buffer) => void) | undefined;

  constructor(
    url: string,
    dialer: Dialer,
    options: ConnectOptions,
    /** Where a Node client's large results may be given back from (release.ts); a browser has none. */
    offer?: (received: Buffer) => void,
  ) {
    this.#offer = offer;
    this.#url = url;
    this.#dialer = dialer;
    this.#options = options;
    this.#timeout = options.callTimeout ?? 30_000;
    checkCallOptions({ timeout: this.#timeout });
    this.#warn = options.onWarning ?? ((message, error) => console.warn(`qiact: ${message}`, error ?? ''));
    refreshTracing();
  }

  get connected(): boolean {
    return this.#link !== null;
  }

  /**
   * One connection: tunnel (if any), TLS, `auth`, then `welcome` or `denied`. Calls waiting for
   * the connection go once `wake` says so (after a reconnection: once subscriptions are back).
   */
  async open(wake = true): Promise<void> {
    const o = this.#options;
    const timeoutMs = o.connectTimeout ?? 10_000;
    const link = await this.#dialer.dial(timeoutMs);
    const admitted = new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        link.close();
        reject(new UnreachableError(this.#url, `no answer to auth within ${timeoutMs} ms`));
      }, timeoutMs);
      link.onMessage = (raw) => {
        clearTimeout(timer);
        let m: GatewayMessage;
        try {
          m = parseGatewayMessage(raw);
        } catch (error) {
          link.close(error as Error);
          return reject(error);
        }
        if (m.kind === 'welcome') {
          // The gateway sends sliced frames from now on if it answered our offer.
          const slices = (m as { slices?: unknown }).slices;
          if (link.slicesOffer !== undefined && isSlicesOffer(slices)) link.trusted?.(slices);
          return resolve(m.identity);
        }
        if (m.kind === 'denied') return reject(new AuthenticationError(m.reason as AuthenticationReason, m.message));
        link.close();
        reject(new UnreachableError(this.#url, `'${m.kind}' came as the answer to auth`));
      };
      void link.closed.then((reason) => {
        clearTimeout(timer);
        reject(new UnreachableError(this.#url, reason ? reason.message : 'the connection closed during authentication'));
      });
    });
    const auth: Record<string, unknown> = { kind: 'auth', version: GATEWAY_PROTOCOL_VERSION, token: o.token ?? null };
    if (link.slicesOffer !== undefined) auth.slices = link.slicesOffer;
    link.send(auth);
    this.identity = await admitted;
    link.onMessage = (m, received) => this.#receive(m, received);
    void link.closed.then((reason) => this.#lost(link, reason));
    this.#link = link;
    if (wake) this.#wakeCallers();
  }

  #wakeCallers(): void {
    for (const wake of this.#waiting.splice(0)) wake();
  }

  /** `received`: the buffer a large result was put together in, if the link made one (receive-buffers.ts). */
  #receive(raw: unknown, received?: Buffer): void {
    let m: GatewayMessage;
    try {
      m = parseGatewayMessage(raw);
    } catch (error) {
      this.#warn(`the gateway ${this.#url} sent a bad message`, error);
      return;
    }
    switch (m.kind) {
      case 'reply':
      case 'fail': {
        const p = this.#pending.get(m.id);
        if (p === undefined) return;
        this.#pending.delete(m.id);
        clearTimeout(p.timer);
        if (m.kind === 'fail') return p.reject(fromWire(m.error, { service: p.service, method: p.method }));
        if (received !== undefined) this.#offer?.(received);
        p.resolve(m.value);
        return;
      }
      case 'signal':
        this.#watches.get(m.sub)?.listener(m.value);
        return;
      case 'ended': {
        const watch = this.#watches.get(m.sub);
        this.#watches.delete(m.sub);
        watch?.end(m.reason);
        return;
      }
      case 'denied':
        // The robot ends this session (its calls crashed services too often): what is in flight
        // fails with why, and the reconnection is refused the same way until it lets us in again.
        this.#deniedWith = new AuthenticationError(m.reason as AuthenticationReason, m.message);
        return;
      default:
        this.#warn(`the gateway ${this.#url} sent '${m.kind}' unasked`);
    }
  }

  /** The connection dropped: fail what was in flight, then reconnect with backoff. */
  #lost(link: Link, reason: Error | undefined): void {
    if (this.#link !== link) return;
    this.#link = null;
    const error = this.#deniedWith ?? new UnreachableError(this.#url, reason ? reason.message : 'the gateway closed the connection');
    this.#deniedWith = null;
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer);
      p.reject(error);
    }
    this.#pending.clear();
    if (this.#closed) return;
    this.#warn(`lost the robot at ${this.#url} (${error instanceof AuthenticationError ? error.message : error.reason}); reconnecting`);
    void this.#reconnect();
  }

  async #reconnect(): Promise<void> {
    let delay = this.#options.reconnect?.firstDelay ?? 100;
    const max = this.#options.reconnect?.maxDelay ?? 5000;
    while (!this.#closed) {
      await new Promise((resolve) => unrefTimer(setTimeout(resolve, delay)));
      if (this.#closed) return;
      try {
        await this.open(false);
        await this.#restoreWatches();
        this.#wakeCallers();
        this.#warn(`reconnected to the robot at ${this.#url}`);
        return;
      } catch (error) {
        if (error instanceof AuthenticationError && error.reason !== 'rate-limited') {
          this.#warn(`the robot at ${this.#url} no longer lets this client in; the session ends`, error);
          void this.close();
          return;
        }
        delay = Math.min(delay * 2, max);
      }
    }
  }

  async #restoreWatches(): Promise<void> {
    for (const [sub, watch] of this.#watches) {
      try {
        await this.#request('subscribe', watch.service, watch.member, [], this.#timeout, sub, true);
      } catch (error) {
        this.#watches.delete(sub);
        watch.end(`could not subscribe again: ${(error as Error).message}`);
      }
    }
  }

  /** Resolves once connected, or fails after `timeoutMs`. */
  #whenConnected(timeoutMs: number, service: string, method: string): Promise<void> {
    if (this.#link !== null) return Promise.resolve();
    if (this.#closed) return Promise.reject(new NodeStoppedError(`session with ${this.#url}`));
    return new Promise((resolve, reject) => {
      const wake = (): void => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#waiting = this.#waiting.filter((w) => w !== wake);
        reject(new CallTimeoutError({ service, method, address: this.#url }, timeoutMs));
      }, timeoutMs);
      this.#waiting.push(wake);
    });
  }

  async #request(kind: 'call' | 'subscribe', service: string, method: string, args: unknown[], timeoutMs: number, sub = 0, now = false, trace?: Record<string, string>): Promise<unknown> {
    if (!now) await this.#whenConnected(timeoutMs, service, method);
    const link = this.#link;
    if (link === null) throw new NodeStoppedError(`session with ${this.#url}`);
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new CallTimeoutError({ service, method, address: this.#url }, timeoutMs));
      }, timeoutMs);
      this.#pending.set(id, { resolve, reject, service, method, timer });
      try {
        if (kind === 'call') link.send(trace === undefined ? { kind: 'call', id, to: service, from: '', method, args, timeout: timeoutMs } : { kind: 'call', id, to: service, from: '', method, args, timeout: timeoutMs, trace });
        else link.send({ kind: 'subscribe', id, to: service, from: '', member: method, sub });
      } catch (error) {
        // An argument CBOR cannot carry: this call fails, the session goes on.
        this.#pending.delete(id);
        clearTimeout(timer);
        reject(new BadMessageError(kind, 'args', `cannot be sent: ${(error as Error).message}`));
      }
    });
  }

  call(service: string, method: string, args: unknown[], options: CallOptions | undefined): Promise<unknown> {
    checkCallOptions(options);
    const timeout = options?.timeout ?? this.#timeout;
    if (!tracingState.on || method.startsWith('@')) return this.#request('call', service, method, args, timeout);
    // Traced: this client's CLIENT span, whose context the gateway carries on into the robot.
    const { span, ctx } = startClientSpan(service, method, this.#url.startsWith('xmpp:') ? 'xmpp' : 'gateway', this.#url);
    return endedWith(span, this.#request('call', service, method, args, timeout, 0, false, carrierOf(ctx)));
  }

  post(service: string, method: string, args: unknown[]): void {
    const trace = tracingState.on ? carrierOf(activeContext()) : undefined;
    if (this.#link !== null) this.#link.send(trace === undefined ? { kind: 'post', to: service, from: '', method, args } : { kind: 'post', to: service, from: '', method, args, trace });
    else void this.#whenConnected(this.#timeout, service, method).then(
      () => this.post(service, method, args),
      (error: unknown) => this.#warn(`post ${service}.${method} dropped`, error),
    );
  }

  async subscribe(service: string, member: string, listener: (value: unknown) => void): Promise<Subscription> {
    const sub = this.#nextId++;
    let settle: (reason: string) => void = () => {};
    const ended = new Promise<string>((resolve) => (settle = resolve));
    const watch: Watch = { service, member, listener, end: settle };
    this.#watches.set(sub, watch);
    try {
      await this.#request('subscribe', service, member, [], this.#timeout, sub);
    } catch (error) {
      this.#watches.delete(sub);
      throw error;
    }
    return {
      off: () => {
        if (!this.#watches.delete(sub)) return;
        settle('unsubscribed');
        this.#link?.send({ kind: 'unsubscribe', to: service, sub });
      },
      ended,
    };
  }

  async service<T>(name: string, options?: CallOptions): Promise<Remote<T>> {
    checkCallOptions(options);
    const description = (await this.call(name, '@describe', [], options)) as ServiceDescription;
    const client = this;
    const target: HandleTarget = {
      name,
      route: { service: name, address: this.#url, path: this.#url.startsWith('xmpp:') ? 'xmpp' : 'gateway' },
      call: (method, args, o) => client.call(name, method, args, o ?? options),
      post: (method, args) => client.post(name, method, args),
      subscribe: (member, listener) => client.subscribe(name, member, listener),
    };
    return makeHandle<T>(target, description);
  }

  async services(): Promise<string[]> {
    return (await this.call('@gateway', 'services', [], undefined)) as string[];
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const error = new NodeStoppedError(`session with ${this.#url}`);
    for (const wake of this.#waiting.splice(0)) wake();
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer);
      p.reject(error);
    }
    this.#pending.clear();
    for (const watch of this.#watches.values()) watch.end('session closed');
    this.#watches.clear();
    const link = this.#link;
    this.#link = null;
    if (link !== null) {
      link.close();
      await link.closed;
    }
    await this.#dialer.close();
  }
}
