import type { Socket } from 'node:net';
import { createServer, type TLSSocket } from 'node:tls';
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
}

function parseListen(listen: unknown): { host: string; port: number } {
  const m = typeof listen === 'string' ? /^tls:\/\/(\[[^\]]+\]|[^:/]+):(\d{1,5})$/.exec(listen) : null;
  if (m === null || Number(m[2]) > 65535) throw new InvalidArgumentError('listen', `${JSON.stringify(listen)} must be tls://host:port`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

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
    const server = createServer({
      cert: this.#options.cert,
      key: this.#options.key,
      ...(this.#options.ca === undefined ? {} : { ca: this.#options.ca, requestCert: true }),
      // A client without a certificate may still come in with a token: the check is ours.
      rejectUnauthorized: false,
      minVersion: 'TLSv1.2',
      handshakeTimeout: this.#limits.handshakeTimeout,
    });
    server.maxConnections = this.#limits.maxConnections;
    // A share per address, counted from the TCP connection (before TLS costs us anything).
    const perAddress = new Map<string, number>();
    server.on('connection', (socket: Socket) => {
      const address = socket.remoteAddress ?? '?';
      const open = perAddress.get(address) ?? 0;
      if (open >= this.#limits.maxConnectionsPerAddress) {
        if (open === this.#limits.maxConnectionsPerAddress) this.context.warn(`refusing connections from ${address}: ${open} open (limit ${this.#limits.maxConnectionsPerAddress} per address)`);
        perAddress.set(address, open + 1);
        socket.once('close', () => this.#release(perAddress, address));
        socket.destroy();
        return;
      }
      perAddress.set(address, open + 1);
      socket.once('close', () => this.#release(perAddress, address));
    });
    server.on('secureConnection', (socket: TLSSocket) => {
      const address = socket.remoteAddress ?? '?';
      const link = new SocketLink(socket, `client ${address}`, { maxFrame: this.#limits.maxFrame, maxWriteBuffer: this.#limits.maxWriteBuffer });
      this.#sessions.add(new GatewaySession(this.#host, link, address, (token) => this.#identify(socket, token), (token) => `${address} ${this.#claim(socket, token)}`));
    });
    // Plain TCP on the TLS port, a bad certificate, a silent client: that connection only.
    server.on('tlsClientError', (error, socket) => {
      this.context.warn(`TLS refused for ${socket.remoteAddress ?? 'a client'}: ${error.message}`);
      socket.destroy();
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error) => reject(new InvalidArgumentError('listen', `cannot listen on ${this.#options.listen}: ${error.message}`)));
      server.listen(this.#listen.port, this.#listen.host, () => resolve());
    });
    server.on('error', (error) => this.context.warn('listener error', error));
    const bound = server.address();
    const port = typeof bound === 'object' && bound !== null ? bound.port : this.#listen.port;
    this.#endpoint = `tls://${this.#listen.host.includes(':') ? `[${this.#listen.host}]` : this.#listen.host}:${port}`;
    // The listener and the clients go with this run of the gateway, however it ends (a kill
    // runs no onStop): its restart binds the same port again.
    this.context.onExit(() => {
      server.close();
      for (const session of this.#sessions) session.close();
      this.#sessions.clear();
    });
  }

  #release(perAddress: Map<string, number>, address: string): void {
    const left = (perAddress.get(address) ?? 1) - 1;
    if (left > 0) perAddress.set(address, left);
    else perAddress.delete(address);
  }

  /** Where clients connect, as bound (`tls://host:port`). */
  endpoint(): string {
    return this.#endpoint;
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
