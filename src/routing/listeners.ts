import { chmodSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { tlsListenOptions, type NodeTls } from '../transport/node-tls.js';
import { adoptAccepted } from '../transport/shared-reads.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidArgumentError } from '../errors.js';
import { formatEndpoint, parseEndpoint, type Endpoint } from './endpoints.js';

/**
 * The folder of this user's node sockets: `$XDG_RUNTIME_DIR/qiact` when set, else
 * `<tmpdir>/qiact-<uid>`; owner-only, so other users can neither connect nor plant a socket.
 */
export function socketFolder(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_RUNTIME_DIR ? join(env.XDG_RUNTIME_DIR, 'qiact') : join(tmpdir(), `qiact-${process.getuid?.() ?? 'user'}`);
  mkdirSync(base, { recursive: true, mode: 0o700 });
  chmodSync(base, 0o700);
  return base;
}

/**
 * The count of connections still proving themselves on each listener, which the router keeps:
 * a `tls:` listener takes a place for a connection from the moment it is accepted, through
 * TLS's own handshake, until the connection is secure (the router then counts it through the
 * secret's handshake) or gone.
 */
export interface ProvingCount {
  /** Takes a place on `listener`; false when it is full (the connection is closed at once). */
  enter(listener: string): boolean;
  leave(listener: string): void;
}

/** The listening sockets of one node. */
export class Listeners {
  readonly #servers: Server[] = [];
  /** What the node advertises, in the order given. */
  /** Replaced, never changed in place: whoever holds one sees the endpoints of that moment. */
  endpoints: readonly string[] = [];

  constructor(
    private readonly onSocket: (socket: Socket, endpoint: Endpoint, text: string) => void,
    /** The node's certificate, for `tls:` endpoints (none, and they are refused), and the router's count of connections proving themselves. */
    private readonly tls: { config: NodeTls | undefined; handshakeTimeoutMs: number; proving: ProvingCount },
  ) {}

  /**
   * Listens on `unix:/path`, `tcp:host:port` or `tls:host:port` (port 0 picks a free one);
   * resolves to the endpoint as bound. `ownPath`: the Unix path is this node's own (its pid is in the name), so
   * a socket file found there was left by a dead process and is replaced. A socket file at a
   * path given by the user is replaced only if nothing answers on it (its node was killed).
   */
  async listen(text: string, ownPath = false): Promise<string> {
    const wanted = parseEndpoint(text);
    let boundText = text;
    let server: Server;
    if (wanted.kind === 'tls') {
      const config = this.tls.config;
      if (config === undefined) throw new InvalidArgumentError('listen', `${text}: a tls: endpoint needs the node's certificate (start({ tls }) or QIACT_TLS_CERT, QIACT_TLS_KEY, QIACT_TLS_CA)`);
      const inTls = new Map<string, () => void>();
      // 'secureConnection': the peer showed a certificate from the robot's CA; others never get here.
      const tlsServer = createTlsServer(tlsListenOptions(config, this.tls.handshakeTimeoutMs), (socket) => {
        inTls.get(remoteOf(socket))?.();
        this.onSocket(socket, wanted, boundText);
      });
      tlsServer.on('tlsClientError', (_error, socket) => socket.destroy());
      tlsServer.on('connection', (raw: Socket) => countInTls(raw, boundText, this.tls.proving, inTls));
      server = tlsServer;
    } else {
      // Accepted paused, so that the socket read from is one made with the thread's shared reads.
      server = createServer({ pauseOnConnect: true }, (socket) => this.onSocket(adoptAccepted(socket), wanted, boundText));
    }
    if (wanted.kind === 'unix') {
      if (!ownPath && (await answers(wanted.path))) {
        throw new InvalidArgumentError('listen', `${text}: another running node listens on that socket (a directory already runs there?); choose another path with --listen unix:/path`);
      }
      removeStaleSocket(wanted.path);
      await bind(server, text, () => server.listen(wanted.path));
      chmodSync(wanted.path, 0o600);
      this.#servers.push(server);
      this.endpoints = [...this.endpoints, text];
      return text;
    }
    await bind(server, text, () => server.listen(wanted.port, wanted.host));
    const bound = server.address();
    const port = typeof bound === 'object' && bound !== null ? bound.port : wanted.port;
    const endpoint = formatEndpoint({ kind: wanted.kind, host: wanted.host, port });
    boundText = endpoint;
    this.#servers.push(server);
    this.endpoints = [...this.endpoints, endpoint];
    return endpoint;
  }

  /** Stops listening; a Unix socket's file goes with it. Open connections are not touched. */
  close(): void {
    for (const server of this.#servers.splice(0)) server.close();
    this.endpoints = [];
  }
}

/**
 * A TCP connection to a `tls:` listener holds a place among those proving themselves while TLS's
 * own handshake runs, and gives it back when it is secure or gone. TLS hands over no link from
 * the raw socket to its secure one, so they are matched by the peer's address and port, which
 * no two live connections to one listener share. (The raw socket closes in every case: secured,
 * refused, timed out, reset; seen on Node 20.)
 */
function countInTls(raw: Socket, listener: string, proving: ProvingCount, inTls: Map<string, () => void>): void {
  const key = remoteOf(raw);
  if (raw.remoteAddress === undefined || inTls.has(key) || !proving.enter(listener)) {
    raw.destroy();
    return;
  }
  let counted = true;
  const leave = (): void => {
    if (!counted) return;
    counted = false;
    inTls.delete(key);
    proving.leave(listener);
  };
  inTls.set(key, leave);
  raw.once('close', leave);
}

function remoteOf(socket: Socket): string {
  return `${socket.remoteAddress}|${socket.remotePort}`;
}

function bind(server: Server, endpoint: string, listen: () => void): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', (error) => reject(new InvalidArgumentError('listen', `cannot listen on ${endpoint}: ${error.message}`)));
    server.once('listening', () => resolve());
    listen();
  });
}

/** Whether a live process accepts connections on the Unix socket at `path`. */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}

/** A socket file left by a process that died. */
function removeStaleSocket(path: string): void {
  try {
    if (statSync(path).isSocket()) rmSync(path);
  } catch {
    // Not there: nothing to do.
  }
}
