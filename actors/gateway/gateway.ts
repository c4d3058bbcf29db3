import type { IncomingMessage } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Server, Socket } from 'node:net';
import { createServer, type TLSSocket } from 'node:tls';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Link } from '../../src/transport/link.js';
import { WebSocketLink, type WebSocketLike } from '../../src/transport/websocket-link.js';
import { PageFiles } from '../../src/inspect/page-files.js';
import { DIRECTORY_NAME } from '../directory/directory.js';
import { AuthenticationError, InvalidArgumentError } from '../../src/errors.js';
import { SocketLink } from '../../src/transport/socket-link.js';
import { Service, type ServiceClass } from '../../src/service.js';
import { systemClock } from '../../src/clock.js';
import { FailureLimiter } from './failures.js';
import { Permissions, type PermissionTable } from './permissions.js';
import { doorHost } from './service-proxy.js';
import { DEFAULT_LIMITS, GatewaySession, type GatewayLimits, type SessionHost } from './session.js';
import { hashToken, TokenBook } from './tokens.js';

/** The Gateway's default TLS port. */
export const DEFAULT_GATEWAY_PORT = 9443;

export interface GatewayOptions {
  /** Where outside clients connect: `tls://host:port` (port 0: any free port). */
  readonly listen: string;
  /** The gateway's TLS certificate and key (PEM). */
  readonly cert: string | Buffer;
  readonly key: string | Buffer;
  /** CA(s) whose client certificates are accepted (mutual TLS); the subject's CN is the identity. */
  readonly ca?: string | Buffer;
  /** Bearer tokens: identity → `hashToken(token)`. Never the tokens themselves. */
  readonly tokens?: Readonly<Record<string, string>>;
  /** Who may use what (default: nobody, nothing). */
  readonly permissions: PermissionTable;
  /** Services never reachable from outside, besides the directory. */
  readonly internal?: readonly string[];
  /**
   * Let clients call methods (and set properties) that declare no schema for their arguments.
   * Default false: only declared ones, each argument checked against its schema.
   */
  readonly allowUndeclared?: boolean;
  readonly limits?: Partial<GatewayLimits>;
  /** Failed authentications from one address before it is refused at once, and over what window. */
  readonly blockAfter?: { readonly failures: number; readonly windowMs: number };
  /**
   * A second door for WebSocket clients (a browser): `wss://host:port`, the same TLS certificate,
   * sessions, identities, permissions and limits; one binary CBOR message per WebSocket message.
   */
  readonly webSocket?: {
    readonly listen: string;
    /**
     * The web origins whose pages may connect (`https://ops.example.net`); a browser sends its
     * page's origin, and any other is refused (HTTP 403) before a session starts. Clients that
     * send no origin (programs, not browsers) are let through to authenticate. Default: none.
     */
    readonly origins?: readonly string[];
    /**
     * Serve the inspector page at `https://host:port/` (default true): a page that asks for a
     * token and shows the robot through a session like any client's. Pages of this door's own
     * origin may then connect (the browser checked the door's certificate for that name).
     */
    readonly inspector?: boolean;
  };
}

function parseListen(listen: unknown, scheme = 'tls', field = 'listen'): { host: string; port: number } {
  const m = typeof listen === 'string' ? new RegExp(`^${scheme}://(\\[[^\\]]+\\]|[^:/]+):(\\d{1,5})$`).exec(listen) : null;
  if (m === null || Number(m[2]) > 65535) throw new InvalidArgumentError(field, `${JSON.stringify(listen)} must be ${scheme}://host:port`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

const hostText = (host: string): string => (host.includes(':') ? `[${host}]` : host);

/**
 * The Gateway: the robot's one door for clients from outside. It listens on TLS, lets in a
 * client that proves who it is (a verified client certificate, or a bearer token), and proxies
 * its calls, posts, signal subscriptions and property access to the internal services by name,
 * each checked against that identity's permissions (default deny). Nothing of the robot's
 * inside (addresses, endpoints, machine ids, stacks) reaches a client. Spawn it under a
 * supervisor like any service: `gateway(options)` makes its class.
 */
export class GatewayService extends Service {
  readonly #options: GatewayOptions;
  readonly #limits: GatewayLimits;
  readonly #tokens: TokenBook;
  readonly #permissions: Permissions;
  readonly #listen: { host: string; port: number };
  readonly #limiter: FailureLimiter;
  readonly #sessions = new Set<GatewaySession>();
  /** What the sessions use of this gateway. */
  readonly #host: SessionHost;
  #endpoint = '';
  #webSocketEndpoint: string | null = null;

  constructor(options: GatewayOptions) {
    super();
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('gateway options', 'must be an object');
    this.#options = options;
    this.#listen = parseListen(options.listen);
    this.#limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.#tokens = new TokenBook(options.tokens ?? {});
    this.#permissions = new Permissions(options.permissions, new Set([DIRECTORY_NAME, ...(options.internal ?? [])]));
    const block = options.blockAfter ?? { failures: 5, windowMs: 60_000 };
    this.#limiter = new FailureLimiter(systemClock, block.failures, block.windowMs);
    this.#host = doorHost(() => this.context, {
      limits: this.#limits,
      permissions: this.#permissions,
      allowUndeclared: options.allowUndeclared === true,
      limiter: this.#limiter,
      closed: (session) => void this.#sessions.delete(session),
    });
  }

  override async onStart(): Promise<void> {
    const tls = {
      cert: this.#options.cert,
      key: this.#options.key,
      ...(this.#options.ca === undefined ? {} : { ca: this.#options.ca, requestCert: true }),
      // A client without a certificate may still come in with a token: the check is ours.
      rejectUnauthorized: false,
      minVersion: 'TLSv1.2' as const,
      handshakeTimeout: this.#limits.handshakeTimeout,
    };
    // A share per address, counted from the TCP connection (before TLS costs us anything), for both doors.
    const perAddress = new Map<string, number>();
    const server = createServer(tls);
    this.#guard(server, perAddress);
    server.on('secureConnection', (socket: TLSSocket) => {
      const address = socket.remoteAddress ?? '?';
      this.#open(new SocketLink(socket, `client ${address}`, { maxFrame: this.#limits.maxFrame, maxWriteBuffer: this.#limits.maxWriteBuffer }), address, socket);
    });
    this.#endpoint = await this.#bind(server, this.#options.listen, this.#listen, 'tls');
    this.context.onExit(() => server.close());
    if (this.#options.webSocket !== undefined) await this.#startWebSocketDoor(tls, perAddress);
    // The clients go with this run of the gateway, however it ends (a kill runs no onStop): its
    // restart binds the same ports again.
    this.context.onExit(() => {
      for (const session of this.#sessions) session.close();
      this.#sessions.clear();
    });
  }

  /** The WebSocket door: HTTPS, an origin check at the upgrade, then the same sessions as the TLS door. */
  async #startWebSocketDoor(tls: Parameters<typeof createHttpsServer>[0], perAddress: Map<string, number>): Promise<void> {
    const options = this.#options.webSocket!;
    const at = parseListen(options.listen, 'wss', 'webSocket.listen');
    const origins = new Set(options.origins ?? []);
    const page = options.inspector === false ? null : new PageFiles({ gateway: null });
    if (page?.missing) this.context.warn(`no inspector page at ${options.listen}: ${page.missing}`);
    const https = createHttpsServer(tls, (request, response) => {
      if (page !== null) return page.serve(request, response);
      response.writeHead(426, { 'content-type': 'text/plain', upgrade: 'websocket' }).end('this is a qiact gateway: connect with a WebSocket\n');
    });
    /** The inspector page of this door, served under the name the browser verified. */
    const ownPage = (origin: string, request: IncomingMessage): boolean => page !== null && request.headers.host !== undefined && origin === `https://${request.headers.host}`;
    https.headersTimeout = this.#limits.handshakeTimeout;
    https.requestTimeout = this.#limits.handshakeTimeout;
    this.#guard(https, perAddress);
    const sockets = new WebSocketServer({
      server: https,
      maxPayload: this.#limits.maxFrame,
      perMessageDeflate: false,
      verifyClient: ({ origin, req }: { origin: string | undefined; req: IncomingMessage }, done: (ok: boolean, code?: number, message?: string) => void) => {
        if (origin === undefined || origin === '' || origins.has(origin) || ownPage(origin, req)) return done(true);
        this.context.warn(`refused a WebSocket from ${req.socket.remoteAddress ?? '?'}: origin ${JSON.stringify(origin)} is not allowed`);
        done(false, 403, 'origin not allowed');
      },
    });
    sockets.on('connection', (socket: WebSocket, request: IncomingMessage) => {
      const address = request.socket.remoteAddress ?? '?';
      this.#open(new WebSocketLink(socket as unknown as WebSocketLike, `client ${address} (WebSocket)`, this.#limits.maxWriteBuffer, request.socket), address, request.socket as TLSSocket);
    });
    sockets.on('error', (error) => this.context.warn('WebSocket listener error', error));
    this.#webSocketEndpoint = await this.#bind(https, options.listen, at, 'wss');
    this.context.onExit(() => {
      sockets.close();
      https.close();
      https.closeAllConnections();
    });
  }

  /** A session for a client that has just connected, on either door. */
  #open(link: Link, address: string, socket: TLSSocket): void {
    this.#sessions.add(new GatewaySession(this.#host, link, address, (token) => this.#identify(socket, token), (token) => `${address} ${this.#claim(socket, token)}`));
  }

  /** The limits every door keeps before TLS: connections in all, and per address; bad TLS drops that connection only. */
  #guard(server: Server, perAddress: Map<string, number>): void {
    server.maxConnections = this.#limits.maxConnections;
    server.on('connection', (socket: Socket) => {
      const address = socket.remoteAddress ?? '?';
      const open = perAddress.get(address) ?? 0;
      perAddress.set(address, open + 1);
      socket.once('close', () => this.#release(perAddress, address));
      if (open >= this.#limits.maxConnectionsPerAddress) {
        if (open === this.#limits.maxConnectionsPerAddress) this.context.warn(`refusing connections from ${address}: ${open} open (limit ${this.#limits.maxConnectionsPerAddress} per address)`);
        socket.destroy();
      }
    });
    // Plain TCP on the TLS port, a bad certificate, a silent client: that connection only.
    server.on('tlsClientError', (error: Error, socket: Socket) => {
      this.context.warn(`TLS refused for ${socket.remoteAddress ?? 'a client'}: ${error.message}`);
      socket.destroy();
    });
  }

  #release(perAddress: Map<string, number>, address: string): void {
    const left = (perAddress.get(address) ?? 1) - 1;
    if (left > 0) perAddress.set(address, left);
    else perAddress.delete(address);
  }

  /** Listens; resolves to the endpoint as bound (`scheme://host:port`). */
  async #bind(server: Server, text: string, at: { host: string; port: number }, scheme: string): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error) => reject(new InvalidArgumentError('listen', `cannot listen on ${text}: ${error.message}`)));
      server.listen(at.port, at.host, () => resolve());
    });
    server.on('error', (error) => this.context.warn('listener error', error));
    const bound = server.address();
    return `${scheme}://${hostText(at.host)}:${typeof bound === 'object' && bound !== null ? bound.port : at.port}`;
  }

  /** Where clients connect, as bound (`tls://host:port`). */
  endpoint(): string {
    return this.#endpoint;
  }

  /** Where WebSocket clients connect, as bound (`wss://host:port`), or null without that door. */
  webSocketEndpoint(): string | null {
    return this.#webSocketEndpoint;
  }

  /** Clients connected now, and who they are. */
  clients(): { address: string; identity: string | null }[] {
    return [...this.#sessions].map((s) => ({ address: s.address, identity: s.identity }));
  }

  /** Who a client claims to be, for the lockout: its certificate's fingerprint, or a hash of its token. */
  #claim(socket: TLSSocket, token: unknown): string {
    const cert = socket.getPeerCertificate?.();
    if (cert !== undefined && Object.keys(cert).length > 0) return `certificate ${cert.fingerprint256}`;
    return typeof token === 'string' ? `token ${hashToken(token).slice(-16)}` : 'no credential';
  }

  #identify(socket: TLSSocket, token: unknown): string | AuthenticationError {
    const cert = socket.getPeerCertificate?.();
    if (cert !== undefined && Object.keys(cert).length > 0) {
      if (!socket.authorized) return new AuthenticationError('certificate', `client certificate refused: ${String(socket.authorizationError)}`);
      const cn = cert.subject?.CN;
      const identity = Array.isArray(cn) ? cn[0] : cn;
      if (typeof identity === 'string' && identity.length > 0) return identity;
      return new AuthenticationError('certificate', 'the client certificate has no subject CN');
    }
    const identity = this.#tokens.identify(token);
    return identity ?? new AuthenticationError('token', token === undefined || token === null ? 'no token and no client certificate' : 'unknown token');
  }
}

/** The class of a Gateway with these options, to spawn or put in a supervisor child spec. */
export function gateway(options: GatewayOptions): ServiceClass<GatewayService> {
  return class Gateway extends GatewayService {
    constructor() {
      super(options);
    }
  };
}
