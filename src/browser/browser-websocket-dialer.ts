import { InvalidArgumentError, UnreachableError } from '../errors.js';
import type { Dialer } from '../client/tls-dialer.js';
import type { Link } from '../transport/link.js';
import { WebSocketLink, type WebSocketLike } from '../transport/websocket-link.js';

/** The browser's own WebSocket constructor (the page's `globalThis.WebSocket`). */
type WebSocketConstructor = new (url: string) => WebSocketLike & {
  addEventListener(type: 'open', listener: () => void): void;
  removeEventListener(type: string, listener: (...args: never[]) => void): void;
};

/**
 * To a Gateway's WebSocket door from a web page, with the browser's WebSocket: the browser does
 * TLS (its own trust store) and sends the page's Origin, which the door checks. The token goes
 * in the first message, never in the URL. A browser tells a script nothing of why a WebSocket
 * failed (a refused origin, a bad certificate and no server look the same), so neither can this.
 */
export class BrowserWebSocketDialer implements Dialer {
  readonly #WebSocket: WebSocketConstructor;

  constructor(readonly url: string) {
    if (!/^wss:\/\/[^/]+\/?$/.test(url)) throw new InvalidArgumentError('url', `${JSON.stringify(url)} must be wss://host:port`);
    const ctor = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (ctor === undefined) throw new InvalidArgumentError('url', 'this environment has no WebSocket (the browser client runs in a web page)');
    this.#WebSocket = ctor;
  }

  dial(timeoutMs: number): Promise<Link> {
    return new Promise((resolve, reject) => {
      const socket = new this.#WebSocket(this.url);
      const timer = setTimeout(() => failed(`no connection within ${timeoutMs} ms`), timeoutMs);
      const failed = (why: string): void => {
        clearTimeout(timer);
        socket.removeEventListener('open', opened);
        socket.close();
        reject(new UnreachableError(this.url, why));
      };
      const refused = (): void => failed('the browser could not open the WebSocket (no gateway there, a certificate it does not trust, or an origin the gateway refuses)');
      const opened = (): void => {
        clearTimeout(timer);
        socket.removeEventListener('close', refused);
        resolve(new WebSocketLink(socket, this.url));
      };
      socket.addEventListener('open', opened);
      socket.addEventListener('close', refused);
    });
  }

  async close(): Promise<void> {}
}
