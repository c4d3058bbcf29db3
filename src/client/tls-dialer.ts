import { isIP } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { withSharedReads } from '../transport/shared-reads.js';
import { InvalidArgumentError, UnreachableError } from '../errors.js';
import type { Link } from '../transport/link.js';
import { SocketLink } from '../transport/socket-link.js';
import { tunnel } from './proxy-tunnel.js';

/** How a client session reaches its robot: one link per (re)connection, ready for `auth`. */
export interface Dialer {
  readonly url: string;
  dial(timeoutMs: number): Promise<Link>;
  /** Lets go of what the dialer holds (an XMPP login); links already made are closed by their owner. */
  close(): Promise<void>;
}

export interface TlsDialOptions {
  readonly cert?: string | Buffer;
  readonly key?: string | Buffer;
  readonly ca?: string | Buffer;
  readonly servername?: string;
  readonly proxy?: string;
}

/** To a Gateway: TLS to `tls://host:port`, through an HTTP CONNECT proxy if given. */
export class TlsDialer implements Dialer {
  readonly #host: string;
  readonly #port: number;

  constructor(
    readonly url: string,
    private readonly options: TlsDialOptions,
  ) {
    const m = /^tls:\/\/(\[[^\]]+\]|[^:/]+):(\d{1,5})$/.exec(url);
    if (m === null) throw new InvalidArgumentError('url', `${JSON.stringify(url)} must be tls://host:port, wss://host:port or xmpp:robot@domain`);
    this.#host = m[1]!.replace(/^\[|\]$/g, '');
    this.#port = Number(m[2]);
  }

  async dial(timeoutMs: number): Promise<Link> {
    const host = this.#host;
    const port = this.#port;
    const o = this.options;
    const raw = o.proxy === undefined ? undefined : await tunnel(o.proxy, host, port, timeoutMs);
    const socket = await new Promise<TLSSocket>((resolve, reject) => {
      // `host` also names whom the certificate must be for (a name, or an IP in subjectAltName).
      const servername = o.servername ?? (isIP(host) ? undefined : host);
      // Read into the thread's one buffer (Node does so only without a proxy's tunnel under it).
      const s = withSharedReads((reads) =>
        tlsConnect({
          host,
          port,
          ...(raw === undefined ? {} : { socket: raw }),
          ...(servername === undefined ? {} : { servername }),
          ...(o.ca === undefined ? {} : { ca: o.ca }),
          ...(o.cert === undefined ? {} : { cert: o.cert, key: o.key }),
          ...reads,
        }),
      );
      const timer = setTimeout(() => {
        s.destroy();
        reject(new UnreachableError(this.url, `no TLS connection within ${timeoutMs} ms`));
      }, timeoutMs);
      s.once('secureConnect', () => {
        clearTimeout(timer);
        resolve(s);
      });
      s.once('error', (error) => {
        clearTimeout(timer);
        reject(new UnreachableError(this.url, error.message, { cause: error }));
      });
    });
    return new SocketLink(socket, this.url);
  }

  async close(): Promise<void> {}
}
