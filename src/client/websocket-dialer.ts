import { isIP } from 'node:net';
import { WebSocket } from 'ws';
import { InvalidArgumentError, UnreachableError } from '../errors.js';
import type { Link } from '../transport/link.js';
import { WebSocketLink, type WebSocketLike } from '../transport/websocket-link.js';
import type { Dialer, TlsDialOptions } from './tls-dialer.js';

/**
 * To a Gateway's WebSocket door: `wss://host:port`, with the same TLS options as the TLS door
 * (`ca`, a client certificate, `servername`); the token goes in the first message, never in the
 * URL. (A browser uses its own WebSocket; this is for programs.)
 */
export class WebSocketDialer implements Dialer {
  constructor(
    readonly url: string,
    private readonly options: TlsDialOptions,
  ) {
    const m = /^wss:\/\/(\[[^\]]+\]|[^:/]+):(\d{1,5})\/?$/.exec(url);
    if (m === null) throw new InvalidArgumentError('url', `${JSON.stringify(url)} must be wss://host:port`);
    if (options.proxy !== undefined) throw new InvalidArgumentError('proxy', 'is for tls:// gateways; a WebSocket client goes through a proxy its own way');
  }

  dial(timeoutMs: number): Promise<Link> {
    const o = this.options;
    const host = new URL(this.url).hostname.replace(/^\[|\]$/g, '');
    const servername = o.servername ?? (isIP(host) ? undefined : host);
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(this.url, {
        handshakeTimeout: timeoutMs,
        perMessageDeflate: false,
        ...(servername === undefined ? {} : { servername }),
        ...(o.ca === undefined ? {} : { ca: o.ca }),
        ...(o.cert === undefined ? {} : { cert: o.cert, key: o.key }),
      });
      const failed = (why: string, cause?: unknown): void => {
        socket.terminate();
        reject(new UnreachableError(this.url, why, { cause }));
      };
      socket.once('unexpected-response', (_request, response) => failed(`the gateway refused the WebSocket: HTTP ${response.statusCode}`));
      socket.once('error', (error) => failed(error.message, error));
      socket.once('open', () => {
        socket.removeAllListeners('error');
        resolve(new WebSocketLink(socket as unknown as WebSocketLike, this.url));
      });
    });
  }

  async close(): Promise<void> {}
}
