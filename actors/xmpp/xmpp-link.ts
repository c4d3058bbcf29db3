import type { Client } from '@xmpp/client';
import type { Element } from '@xmpp/xml';
import { DIRECTORY_NAME, type ServiceDirectory } from '../directory/directory.js';
import { Permissions, type PermissionTable } from '../gateway/permissions.js';
import { doorHost } from '../gateway/service-proxy.js';
import { DEFAULT_LIMITS, GatewaySession, type GatewayLimits, type SessionHost } from '../gateway/session.js';
import { FailureLimiter } from '../gateway/failures.js';
import { systemClock } from '../../src/clock.js';
import { AuthenticationError, InvalidArgumentError, SlowPeerError } from '../../src/errors.js';
import type { Remote } from '../../src/remote.js';
import { Service, type ServiceClass } from '../../src/service.js';
import { QIACT_NS, StanzaLink } from '../../src/transport/stanza-link.js';
import { loadXmpp, xml } from '../../src/client/xmpp-library.js';

export interface XmppLinkOptions {
  /** The XMPP server: `xmpp://host:port` (STARTTLS when the server offers it) or `xmpps://host:port`. */
  readonly service: string;
  /** The robot's XMPP domain, e.g. `example.net`. */
  readonly domain: string;
  /** The robot's account: its JID is `username@domain`. */
  readonly username: string;
  readonly password: string;
  /** Default `qiact`. */
  readonly resource?: string;
  /** The robot's name, announced in its presence; default the username. */
  readonly robotName?: string;
  /** Who may use what, keyed by bare JID (`alice@example.net`): the Gateway's rules. */
  readonly permissions: PermissionTable;
  readonly internal?: readonly string[];
  /** As the Gateway's: let clients use methods and properties that declare no schema. Default false. */
  readonly allowUndeclared?: boolean;
  readonly limits?: Partial<GatewayLimits>;
  /** Backoff between reconnection attempts when the server goes away, in ms (100 → 5000). */
  readonly reconnect?: { readonly firstDelay?: number; readonly maxDelay?: number };
}

const bare = (jid: string): string => jid.split('/')[0]!;

/** The most clients whose presence the link follows (each gets a directed presence on a change). */
const MAX_FOLLOWERS = 1000;

/** Bytes written to the XMPP connection's socket and not yet sent (a plain or a STARTTLS socket). */
function unsent(xmpp: Client): number {
  const socket = xmpp.socket as { writableLength?: number; socket?: { writableLength?: number } } | null | undefined;
  return socket?.writableLength ?? socket?.socket?.writableLength ?? 0;
}

/**
 * The robot's XMPP link: it logs in to an XMPP server as its own JID and announces its presence
 * there with its device information (name, machine id, the services it offers, kept up to date),
 * so that a robot behind a NAT can be reached: it dials out, nobody dials in. An authorised JID
 * (the Gateway's permissions, keyed by bare JID) calls, posts, watches and reads properties
 * through it with the Gateway's own protocol, each message CBOR in a `urn:qiact:1` stanza.
 * Presence subscriptions from authorised JIDs are accepted, so they see the robot come and go.
 * When the server goes away, it reconnects with backoff and announces itself again.
 */
export class XmppLinkService extends Service {
  /** Whether the link is logged in now. */
  readonly online = this.property(false);
  readonly #options: XmppLinkOptions;
  readonly #limits: GatewayLimits;
  readonly #permissions: Permissions;
  readonly #sessions = new Map<string, { link: StanzaLink; session: GatewaySession }>();
  /** Full JIDs of known clients that said they are here: each gets its own directed presence. */
  readonly #followers = new Set<string>();
  readonly #limiter: FailureLimiter;
  #host!: SessionHost;
  #xmpp: Client | null = null;
  #services: string[] = [];
  #stopping = false;
  #lastError = '';

  constructor(options: XmppLinkOptions) {
    super();
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('xmpp options', 'must be an object');
    for (const key of ['service', 'domain', 'username', 'password'] as const) {
      if (typeof options[key] !== 'string' || options[key] === '') throw new InvalidArgumentError(`xmpp.${key}`, 'is required');
    }
    this.#options = options;
    this.#limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.#permissions = new Permissions(options.permissions, new Set([DIRECTORY_NAME, ...(options.internal ?? [])]));
    this.#limiter = new FailureLimiter(systemClock, 5, 60_000);
  }

  override async onStart(): Promise<void> {
    this.#host = doorHost(() => this.context, {
      limits: this.#limits,
      permissions: this.#permissions,
      allowUndeclared: this.#options.allowUndeclared === true,
      limiter: this.#limiter,
      closed: (session) => {
        const entry = this.#sessions.get(session.address);
        if (entry?.session === session) this.#sessions.delete(session.address);
      },
    });
    // The services offered, announced in the presence as they come and go.
    const directory = await this.context.service<ServiceDirectory>(DIRECTORY_NAME);
    const changed = (): void => void this.#refreshServices(directory);
    await directory.serviceAdded.connect(changed);
    await directory.serviceRemoved.connect(changed);
    await this.#refreshServices(directory);

    const o = this.#options;
    const { client } = await loadXmpp();
    const xmpp = client({ service: o.service, domain: o.domain, username: o.username, password: o.password, resource: o.resource ?? 'qiact' });
    this.#xmpp = xmpp;
    const first = o.reconnect?.firstDelay ?? 100;
    const max = o.reconnect?.maxDelay ?? 5000;
    xmpp.reconnect.delay = first;
    xmpp.reconnect.on('reconnecting', () => (xmpp.reconnect.delay = Math.min(xmpp.reconnect.delay * 2, max)));
    xmpp.on('error', (error: Error) => {
      // Once per distinct error: a server that is down fails every retry the same way.
      if (error.message !== this.#lastError) this.context.warn(`XMPP: ${error.message}`);
      this.#lastError = error.message;
    });
    xmpp.on('online', () => {
      xmpp.reconnect.delay = first;
      this.#lastError = '';
      this.online.value = true;
      void this.#announce();
    });
    xmpp.on('offline', () => this.#lost());
    xmpp.on('disconnect', () => this.#lost());
    xmpp.on('stanza', (stanza: Element) => this.#stanza(stanza));
    // The login goes with this run of the link, however it ends (a kill runs no onStop): left
    // behind, it and the restarted link's would take turns throwing each other off the server.
    this.context.onExit(() => {
      xmpp.reconnect.stop();
      if (xmpp.status !== 'offline') xmpp.stop().catch(() => {});
    });
    // A server that is down now is retried by the reconnection, with backoff.
    xmpp.start().catch(() => {});
  }

  override async onStop(): Promise<void> {
    this.#stopping = true;
    const xmpp = this.#xmpp;
    this.#lost();
    if (xmpp === null) return;
    xmpp.reconnect.stop();
    try {
      if (xmpp.status === 'online') await xmpp.send(xml('presence', { type: 'unavailable' }));
      await xmpp.stop();
    } catch {
      // Already gone: nothing to say goodbye to.
    }
  }

  /** The robot's full JID while online. */
  jid(): string | null {
    return this.#xmpp?.jid?.toString() ?? null;
  }

  /** The clients talking to the robot through XMPP now. */
  clients(): { jid: string; identity: string | null }[] {
    return [...this.#sessions].map(([jid, { session }]) => ({ jid, identity: session.identity }));
  }

  async #refreshServices(directory: ServiceDirectory | { list(): Promise<{ name: string }[]> }): Promise<void> {
    const names = (await directory.list()).map((s) => s.name).filter((n) => n !== DIRECTORY_NAME).sort();
    if (names.join(' ') === this.#services.join(' ')) return;
    this.#services = names;
    if (this.#xmpp?.status === 'online') await this.#announce();
  }

  /**
   * The robot's presence. Broadcast (no `to`), every subscriber sees it: the robot's card without
   * its services. Directed to one client, the card lists the services that client's JID may use,
   * and no other (none for a JID without permissions).
   */
  #presence(to?: string): Element {
    const name = this.#options.robotName ?? this.#options.username;
    if (to === undefined) return xml('presence', {}, xml('status', {}, `${name}: online`), xml('robot', { xmlns: QIACT_NS, name, machine: this.context.self.machineId }));
    const identity = bare(to);
    const own = this.context.name;
    const services = this.#services.filter((s) => s !== own && this.#permissions.mayUse(identity, s));
    return xml(
      'presence',
      { to },
      xml('status', {}, `${name}: ${services.length} services`),
      xml('robot', { xmlns: QIACT_NS, name, machine: this.context.self.machineId, services: services.join(' ') }),
    );
  }

  /** Presence to the server (for subscribers), then directed to each client following the robot. */
  async #announce(): Promise<void> {
    const xmpp = this.#xmpp;
    if (xmpp === null || xmpp.status !== 'online') return;
    try {
      await xmpp.send(this.#presence());
      for (const jid of new Set([...this.#followers, ...this.#sessions.keys()])) await xmpp.send(this.#presence(jid));
    } catch (error) {
      this.context.warn('XMPP: presence not sent', error);
    }
  }

  /** Logged out (server gone, or stopping): every client session through it ends. */
  #lost(): void {
    if (this.online.value) this.online.value = false;
    for (const { link } of this.#sessions.values()) link.close();
    this.#sessions.clear();
  }

  #stanza(stanza: Element): void {
    const from = stanza.attrs.from as string | undefined;
    if (from === undefined || this.#stopping) return;
    if (stanza.is('presence')) return this.#onPresence(stanza, from);
    if (!stanza.is('message')) return;
    const payload = stanza.getChild('q', QIACT_NS);
    if (payload === undefined) return;
    if (stanza.attrs.type === 'error') {
      // The client's resource is gone: its session ends.
      this.#sessions.get(from)?.link.close();
      return;
    }
    this.#onPayload(from, payload.text());
  }

  #onPresence(stanza: Element, from: string): void {
    const xmpp = this.#xmpp!;
    const type = stanza.attrs.type as string | undefined;
    const known = this.#permissions.knows(bare(from));
    if (type === 'subscribe') {
      // An authorised JID may follow the robot's presence; anyone else is refused.
      void xmpp.send(xml('presence', { to: bare(from), type: known ? 'subscribed' : 'unsubscribed' }));
      if (known) void xmpp.send(this.#presence(bare(from)));
      else this.context.warn(`XMPP: refused a presence subscription from ${bare(from)}`);
      return;
    }
    if (type === 'unavailable') {
      this.#followers.delete(from);
      this.#sessions.get(from)?.link.close();
      return;
    }
    // A client says it is here: tell it about the robot (to JIDs it knows only), now and as its
    // services come and go.
    if (type === undefined && known && from !== this.jid()) {
      if (this.#followers.size < MAX_FOLLOWERS) this.#followers.add(from);
      void xmpp.send(this.#presence(from));
    }
  }

  #onPayload(from: string, text: string): void {
    let entry = this.#sessions.get(from);
    if (entry === undefined) {
      if (this.#sessions.size >= this.#limits.maxConnections) {
        this.context.warn(`XMPP: ignored ${from}: ${this.#limits.maxConnections} clients already`);
        return;
      }
      const xmpp = this.#xmpp!;
      const send = (base64: string): void => {
        // The robot's own socket to the server is shared by every client: a backlog past the
        // bound (a server that does not keep up) ends the session that adds to it.
        if (unsent(xmpp) > this.#limits.maxWriteBuffer) return link.close(new SlowPeerError(`the XMPP server (for ${from})`, this.#limits.maxWriteBuffer));
        xmpp.send(xml('message', { to: from }, xml('q', { xmlns: QIACT_NS }, base64))).catch(() => link.close());
      };
      const link: StanzaLink = new StanzaLink(`xmpp ${from}`, send, this.#limits.maxFrame);
      const identity = bare(from);
      const session = new GatewaySession(
        this.#host,
        link,
        from,
        () => (this.#permissions.knows(identity) ? identity : new AuthenticationError('jid', `${identity} has no permissions here`)),
        // The XMPP server proved the JID: the lockout is per JID, whatever resource it uses.
        () => identity,
      );
      entry = { link, session };
      this.#sessions.set(from, entry);
    }
    const refused = entry.link.receive(text);
    if (refused !== undefined) this.context.warn(`XMPP: dropped a payload from ${from}: ${refused.message}`);
  }
}

/** The class of an XMPP link with these options, to spawn or put in a supervisor child spec. */
export function xmppLink(options: XmppLinkOptions): ServiceClass<XmppLinkService> {
  return class XmppLink extends XmppLinkService {
    constructor() {
      super(options);
    }
  };
}
