import type { ServiceDescription } from '../../src/behaviour.js';
import type { Clock } from '../../src/clock.js';
import { AuthenticationError, BadArgumentsError, BadMessageError, LimitExceededError, NoSuchMethodError, PermissionDeniedError, ServiceError, type AuthenticationReason } from '../../src/errors.js';
import { wrongArgument } from '../../src/schemas.js';
import { GATEWAY_PROTOCOL_VERSION, isSlicesOffer, parseGatewayMessage, type GatewayMessage, type GatewayMessageOf } from '../../src/messages.js';
import type { JsonSchema } from '../../src/schemas.js';
import { describeOf, type Remote, type RemoteMethod, type RemoteSignal, type Subscription } from '../../src/remote.js';
import type { Link } from '../../src/transport/link.js';
import type { Permissions } from './permissions.js';
import { notPlain } from './plain-data.js';
import { publicError } from './public-error.js';
import { contextFrom, runIn, tracingState } from '../../src/observe/tracing.js';

/** The Gateway's limits, per connection unless said otherwise. */
export interface GatewayLimits {
  /** TLS handshake, then the `auth` message, each within this many ms. */
  readonly handshakeTimeout: number;
  /** Largest frame a client may send, in bytes. */
  readonly maxFrame: number;
  /** Bytes waiting to be written to a client that does not read, before it is cut off. */
  readonly maxWriteBuffer: number;
  /** Connections open at once, all clients together. */
  readonly maxConnections: number;
  /** Connections open at once from one address (clients behind one NAT share it). */
  readonly maxConnectionsPerAddress: number;
  /** Messages a client may send per second (a burst of as many is allowed). */
  readonly messagesPerSecond: number;
  /** Calls a client may have waiting for an answer. */
  readonly maxInFlight: number;
  /** Subscriptions a client may hold. */
  readonly maxSubscriptions: number;
  /** The longest call timeout a client may ask for, in ms. */
  readonly maxCallTimeout: number;
  /** How long a refused client waits for its `denied` (slows down guessing), in ms. */
  readonly failureDelay: number;
  /**
   * Crashes of services that one identity's calls may cause in a minute. Past it, the identity's
   * session ends (`denied`, reason `crashes`) and it is refused for the rest of that minute: well
   * before a supervisor's restart intensity (10 in 10 s for spawned services) would escalate.
   */
  readonly maxCrashesPerMinute: number;
}

export const DEFAULT_LIMITS: GatewayLimits = {
  handshakeTimeout: 5000,
  maxFrame: 1024 * 1024,
  maxWriteBuffer: 4 * 1024 * 1024,
  maxConnections: 256,
  maxConnectionsPerAddress: 32,
  messagesPerSecond: 2000,
  maxInFlight: 100,
  maxSubscriptions: 100,
  maxCallTimeout: 60_000,
  failureDelay: 250,
  maxCrashesPerMinute: 3,
};

/** What a session needs from its gateway. */
export interface SessionHost {
  readonly clock: Clock;
  readonly limits: GatewayLimits;
  readonly permissions: Permissions;
  /** Whether methods and properties that declare no schema may be used from outside (default no). */
  readonly allowUndeclared: boolean;
  /**
   * A refused authentication, counted per lockout key (the client's address and the identity it
   * claimed): one bad client behind a NAT does not lock out the others.
   */
  failed(key: string): void;
  /** Too many refusals for this key lately: refused whatever it sends. */
  blocked(key: string): boolean;
  /** A call of `identity` crashed a service; true once it has crashed too many (it must go). */
  crashed(identity: string): boolean;
  /** Whether `identity` crashed too many services lately to be let in now. */
  crashing(identity: string): boolean;
  /** A handle on an internal service, made by the gateway actor. */
  handle(name: string): Promise<Remote<unknown>>;
  /** The services `identity` may see. */
  visible(identity: string): Promise<string[]>;
  closed(session: GatewaySession): void;
  warn(message: string, error?: unknown): void;
}

/** Requests to the gateway itself rather than to a service. */
export const GATEWAY_TARGET = '@gateway';

/** Messages per second as a token bucket: `rate` tokens a second, at most `rate` saved up. */
class Bucket {
  #tokens: number;
  #at: number;
  constructor(
    private readonly rate: number,
    private readonly clock: Clock,
  ) {
    this.#tokens = rate;
    this.#at = clock.now();
  }
  take(): boolean {
    const now = this.clock.now();
    this.#tokens = Math.min(this.rate, this.#tokens + ((now - this.#at) * this.rate) / 1000);
    this.#at = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

/**
 * One outside client's connection to the Gateway. It must authenticate first (`auth`, within
 * the handshake timeout); until then nothing else is read and nothing of the robot is said. Then
 * each call, post and subscription is checked against the client's permissions and limits and
 * forwarded to the internal service by name; answers and errors go back with every internal
 * address removed.
 */
export class GatewaySession {
  identity: string | null = null;
  #state: 'authenticating' | 'open' | 'closing' = 'authenticating';
  #timer: unknown;
  /** Ids of the calls being answered: a replayed id is refused, not run twice. */
  readonly #inFlight = new Set<number>();
  readonly #bucket: Bucket;
  /**
   * Subscriptions by the client's `sub` id: reserved (null) the moment the message is read, so
   * that limits and duplicate checks hold however many subscribe messages come in one write.
   */
  readonly #subscriptions = new Map<number, Subscription | null>();

  constructor(
    private readonly host: SessionHost,
    /** The client's connection: TLS through the gateway's listener, or stanzas through XMPP. */
    readonly link: Link,
    readonly address: string,
    /** Who the client is, from what its connection proves (a certificate, a JID) and its `auth` token. */
    private readonly identify: (token: unknown) => string | AuthenticationError,
    /** The lockout key of an `auth`: where it comes from and who it claims to be (never the token itself). */
    private readonly lockoutKey: (token: unknown) => string,
  ) {
    const { limits } = host;
    this.#bucket = new Bucket(limits.messagesPerSecond, host.clock);
    this.#timer = host.clock.setTimer(() => this.#deny('timeout', `no authentication within ${limits.handshakeTimeout} ms`), limits.handshakeTimeout);
    this.link.onMessage = (m) => this.#receive(m);
    void this.link.closed.then((reason) => {
      host.clock.clearTimer(this.#timer);
      if (reason !== undefined && this.#state !== 'closing') host.warn(`client ${address}${this.identity ? ` (${this.identity})` : ''} dropped: ${reason.message}`);
      this.#state = 'closing';
      for (const sub of this.#subscriptions.values()) sub?.off();
      this.#subscriptions.clear();
      host.closed(this);
    });
  }

  close(): void {
    this.#state = 'closing';
    this.link.close();
  }

  #send(message: GatewayMessage): void {
    this.link.send(message);
  }

  /**
   * Refuses the client: after the failure delay, one `denied` with the reason, then the end. A
   * refusal of what the client claimed counts against its lockout key (`countAs`).
   */
  #deny(reason: AuthenticationReason, detail: string, countAs?: string): void {
    if (this.#state === 'closing') return;
    this.#state = 'closing';
    this.host.clock.clearTimer(this.#timer);
    if (countAs !== undefined) this.host.failed(countAs);
    this.host.warn(`refused client ${this.address}: ${reason} (${detail})`);
    this.host.clock.setTimer(() => {
      this.#send({ kind: 'denied', reason, message: detail });
      this.link.close();
    }, this.host.limits.failureDelay);
  }

  #receive(raw: unknown): void {
    if (this.#state === 'closing') return;
    let m: GatewayMessage;
    try {
      m = parseGatewayMessage(raw);
    } catch (error) {
      if (this.#state === 'authenticating') return this.#deny('protocol', (error as Error).message);
      // The client hears why (over XMPP there is no connection whose end it would notice), then
      // the session ends: a client that sends malformed messages cannot be trusted with its ids.
      this.host.warn(`closing client ${this.address} (${this.identity}): ${(error as Error).message}`);
      this.#send({ kind: 'denied', reason: 'protocol', message: (error as Error).message });
      this.#state = 'closing';
      this.link.close(); // a clean close: the denied goes out first
      return;
    }
    if (this.#state === 'authenticating') return this.#authenticate(m);
    // While tracing, the client's trace context is active as its message goes in: what the
    // gateway calls on the client's behalf joins the client's trace.
    if (tracingState.on) return runIn(contextFrom((m as { trace?: unknown }).trace), () => this.#handle(m));
    this.#handle(m);
  }

  #handle(m: GatewayMessage): void {
    switch (m.kind) {
      case 'call':
        return void this.#call(m);
      case 'post':
        return void this.#post(m);
      case 'subscribe':
        return void this.#subscribe(m);
      case 'unsubscribe':
        // One still being made is turned off once it is (it is no longer reserved).
        this.#subscriptions.get(m.sub)?.off();
        this.#subscriptions.delete(m.sub);
        return;
      default:
        // A reply to nothing, a second auth...: answered by nobody, logged, and the session goes on.
        this.host.warn(`ignored '${m.kind}' from client ${this.address} (${this.identity}): not something a client sends after authenticating`);
    }
  }

  #authenticate(m: GatewayMessage): void {
    if (m.kind !== 'auth') return this.#deny('protocol', `the first message must be 'auth', not '${m.kind}'`);
    if (m.version !== GATEWAY_PROTOCOL_VERSION) return this.#deny('protocol', `protocol version ${m.version}; this gateway speaks ${GATEWAY_PROTOCOL_VERSION}`);
    const key = this.lockoutKey(m.token);
    if (this.host.blocked(key)) return this.#deny('rate-limited', `too many failed authentications from ${this.address} as this identity; try again later`);
    const identity = this.identify(m.token);
    if (identity instanceof AuthenticationError) return this.#deny(identity.reason, identity.detail, key);
    if (this.host.crashing(identity)) return this.#deny('crashes', `${identity}'s calls crashed services ${this.host.limits.maxCrashesPerMinute} times within a minute; try again later`);
    this.host.clock.clearTimer(this.#timer);
    this.identity = identity;
    this.#state = 'open';
    // Sliced frames when the client offers them and this link can (see PROTOCOL.md, Frames).
    const slices = (m as { slices?: unknown }).slices;
    const offer = this.link.slicesOffer;
    if (offer !== undefined && isSlicesOffer(slices)) {
      this.link.trusted?.(slices);
      this.#send({ kind: 'welcome', version: GATEWAY_PROTOCOL_VERSION, identity, slices: offer } as GatewayMessage);
    } else this.#send({ kind: 'welcome', version: GATEWAY_PROTOCOL_VERSION, identity });
  }

  /** Whether the client may send one more message now; refuses the call `id` if not. */
  #admit(id: number | null, service: string, method: string): boolean {
    if (this.#bucket.take()) return true;
    const error = new LimitExceededError('messages per second', this.host.limits.messagesPerSecond);
    if (id !== null) this.#send({ kind: 'fail', id, error: publicError(error, service, method) as never });
    return false;
  }

  async #call(m: GatewayMessageOf<'call'>): Promise<void> {
    const { id, to: service, method } = m;
    if (!this.#admit(id, service, method)) return;
    if (this.#inFlight.size >= this.host.limits.maxInFlight) {
      this.#send({ kind: 'fail', id, error: publicError(new LimitExceededError('calls in flight', this.host.limits.maxInFlight), service, method) as never });
      return;
    }
    if (this.#inFlight.has(id)) {
      this.#send({ kind: 'fail', id, error: publicError(new BadMessageError('call', 'id', `${id} is already in flight on this connection`), service, method) as never });
      return;
    }
    this.#inFlight.add(id);
    try {
      const value = service === GATEWAY_TARGET ? await this.#gatewayRequest(method) : await this.#forward(service, method, m.args, m.timeout);
      if (this.#state === 'open') this.#send({ kind: 'reply', id, value });
    } catch (error) {
      if (this.#state === 'open') this.#send({ kind: 'fail', id, error: publicError(error, service, method) as never });
      if (error instanceof ServiceError && error.crashed) this.#crashedBy(service, method);
    } finally {
      this.#inFlight.delete(id);
    }
  }

  /** This client's call crashed the service: counted; past the bound the session ends. */
  #crashedBy(service: string, method: string): void {
    const identity = this.identity!;
    this.host.warn(`${service}.${method} crashed on a call from client ${this.address} (${identity})`);
    if (!this.host.crashed(identity) || this.#state !== 'open') return;
    this.#deny('crashes', `${identity}'s calls crashed services ${this.host.limits.maxCrashesPerMinute} times within a minute`);
  }

  #gatewayRequest(method: string): Promise<unknown> {
    if (method === 'services') return this.host.visible(this.identity!);
    throw new NoSuchMethodError({ service: GATEWAY_TARGET, method }, ['services']);
  }

  /** Checks the call against the permissions, then makes it from inside. */
  async #forward(service: string, method: string, args: unknown[], timeout: number): Promise<unknown> {
    const identity = this.identity!;
    const { permissions } = this.host;
    if (method === '@describe') {
      if (!permissions.mayUse(identity, service)) permissions.check(identity, service, '*', 'call');
      return this.#describe(service, await this.host.handle(service));
    }
    if (method === '@get' || method === '@set') {
      const property = typeof args[0] === 'string' ? args[0] : '';
      permissions.check(identity, service, property, method === '@get' ? 'get' : 'set');
    } else if (method.startsWith('@')) {
      throw new NoSuchMethodError({ service, method }, []);
    } else permissions.check(identity, service, method, 'call');
    checkPlain(args, service, method);
    const handle = await this.host.handle(service);
    if (method === '@get' || method === '@set') {
      const property = args[0] as string;
      const described = describeOf(handle);
      if (!described.properties.includes(property)) throw new NoSuchMethodError({ service, method: `${method} ${property}` }, [...described.properties]);
      const remote = (handle as unknown as Record<string, { get(): Promise<unknown>; set(v: unknown): Promise<void> }>)[property]!;
      if (method === '@get') return remote.get();
      // The value is the property's one argument: named `value`.
      this.#checkDeclared(service, property, described.schemas?.properties[property], () => wrongArgument([described.schemas!.properties[property]!], [args[1]], () => 'value'));
      return remote.set(args[1]).then(() => null);
    }
    const fn = methodOf(handle, service, method);
    this.#checkArguments(handle, service, method, args);
    return fn.with({ timeout: Math.min(Math.max(timeout, 1), this.host.limits.maxCallTimeout) })(...args);
  }

  /** Arguments from outside are checked against the method's declared schemas before they go in. */
  #checkArguments(handle: Remote<unknown>, service: string, method: string, args: unknown[]): void {
    const declared = describeOf(handle).methods.find((m) => m.name === method)?.schema;
    this.#checkDeclared(service, method, declared, () => wrongArgument(declared!.params, args));
  }

  #checkDeclared(service: string, member: string, declared: unknown, wrong: () => { parameter: string; problem: string } | null): void {
    if (declared === undefined) {
      if (this.host.allowUndeclared) return;
      throw new PermissionDeniedError({ service, method: member }, this.identity!, 'it declares no schema for its arguments, and this door takes only declared ones');
    }
    const found = wrong();
    if (found === null) return;
    throw new BadArgumentsError({ service, method: member }, 'arguments that match its schema', 0, found);
  }

  /** What the service offers, cut down to what this client may use. */
  #describe(service: string, handle: Remote<unknown>): ServiceDescription {
    const d = describeOf(handle);
    const may = (member: string, access: 'call' | 'watch' | 'get' | 'set'): boolean => this.host.permissions.allows(this.identity!, service, member, access);
    const signals = d.signals.filter((s) => may(s, 'watch'));
    const properties = d.properties.filter((p) => may(p, 'get') || may(p, 'watch'));
    const only = (schemas: Readonly<Record<string, JsonSchema>>, names: readonly string[]): Record<string, JsonSchema> =>
      Object.fromEntries(names.filter((n) => schemas[n] !== undefined).map((n) => [n, schemas[n]!]));
    return {
      methods: d.methods.filter((m) => may(m.name, 'call')),
      signals,
      properties,
      writable: properties.filter((p) => may(p, 'set')),
      ...(d.schemas === undefined ? {} : { schemas: { signals: only(d.schemas.signals, signals), properties: only(d.schemas.properties, properties) } }),
    };
  }

  async #post(m: GatewayMessageOf<'post'>): Promise<void> {
    if (!this.#admit(null, m.to, m.method)) return this.host.warn(`post ${m.to}.${m.method} from ${this.identity} dropped: over the message rate`);
    try {
      if (m.method.startsWith('@')) throw new NoSuchMethodError({ service: m.to, method: m.method }, []);
      this.host.permissions.check(this.identity!, m.to, m.method, 'call');
      checkPlain(m.args, m.to, m.method);
      const handle = await this.host.handle(m.to);
      const fn = methodOf(handle, m.to, m.method);
      this.#checkArguments(handle, m.to, m.method, m.args);
      fn.post(...m.args);
    } catch (error) {
      this.host.warn(`post ${m.to}.${m.method} from ${this.identity} dropped: ${(error as Error).message}`);
    }
  }

  async #subscribe(m: GatewayMessageOf<'subscribe'>): Promise<void> {
    const { id, to: service, member, sub } = m;
    if (!this.#admit(id, service, member)) return;
    const refuse = (error: unknown): void => this.#send({ kind: 'fail', id, error: publicError(error, service, `watch ${member}`) as never });
    // Checked and reserved before the first await: a burst in one write cannot slip past them.
    try {
      this.host.permissions.check(this.identity!, service, member, 'watch');
      if (this.#subscriptions.has(sub)) throw new BadMessageError('subscribe', 'sub', `${sub} is already in use on this connection`);
      if (this.#subscriptions.size >= this.host.limits.maxSubscriptions) throw new LimitExceededError('subscriptions', this.host.limits.maxSubscriptions);
    } catch (error) {
      return refuse(error);
    }
    this.#subscriptions.set(sub, null);
    const reserved = (): boolean => this.#state === 'open' && this.#subscriptions.has(sub) && this.#subscriptions.get(sub) === null;
    try {
      const handle = await this.host.handle(service);
      const { signals, properties } = describeOf(handle);
      if (!signals.includes(member) && !properties.includes(member)) throw new NoSuchMethodError({ service, method: member }, [...signals, ...properties]);
      const subscription = await (handle as unknown as Record<string, RemoteSignal<unknown>>)[member]!.connect((value) => {
        if (this.#subscriptions.get(sub) === subscription) this.#send({ kind: 'signal', sub, value });
      });
      // Unsubscribed, or the session ended, while it was being made: undo it in the service's node.
      if (!reserved()) return subscription.off();
      this.#subscriptions.set(sub, subscription);
      void subscription.ended.then((reason) => {
        if (this.#subscriptions.get(sub) === subscription) {
          this.#subscriptions.delete(sub);
          if (reason !== 'unsubscribed') this.#send({ kind: 'ended', sub, reason: 'service stopped' });
        }
      });
      this.#send({ kind: 'reply', id, value: sub });
    } catch (error) {
      if (reserved()) this.#subscriptions.delete(sub);
      refuse(error);
    }
  }
}

/** The method `method` of a handle: one of the service's own methods, never a signal, a property or anything inherited. */
function methodOf(handle: Remote<unknown>, service: string, method: string): RemoteMethod<unknown[], unknown> {
  const { methods } = describeOf(handle);
  if (!methods.some((m) => m.name === method)) throw new NoSuchMethodError({ service, method }, methods.map((m) => m.name));
  return (handle as unknown as Record<string, RemoteMethod<unknown[], unknown>>)[method]!;
}

/** Only plain data crosses the door (plain-data.ts): anything else is refused, naming where it is. */
function checkPlain(args: unknown[], service: string, method: string): void {
  const wrong = notPlain(args);
  if (wrong !== null) {
    throw new BadArgumentsError({ service, method }, 'plain data', args.length, { parameter: `args${wrong.path}`, problem: `${wrong.problem}: only plain data crosses the door (null, booleans, numbers, strings, bytes, arrays, maps)` });
  }
}
