/**
 * qiact in a web page: `connect('wss://robot:9443', { token })` gives the same session and typed
 * handles as the Node client, over the browser's own WebSocket to the Gateway's WebSocket door.
 * Built into one ES module (dist/browser/qiact.js) by `npm run build`.
 */
import { openSession, type ConnectOptions, type Session } from '../client/gateway-session.js';
import { BrowserWebSocketDialer } from './browser-websocket-dialer.js';

/** What a page can set: the TLS is the browser's, so certificates, proxies and XMPP are not here. */
export type BrowserConnectOptions = Pick<ConnectOptions, 'token' | 'callTimeout' | 'connectTimeout' | 'reconnect' | 'onWarning'>;

/**
 * Connects to the Gateway's WebSocket door at `url` and authenticates with `token`. Resolves to
 * a session once the gateway has let this page in; it reconnects on its own with backoff after a
 * lost connection and makes its signal subscriptions again.
 */
export async function connect(url: string, options: BrowserConnectOptions = {}): Promise<Session> {
  const { token, callTimeout, connectTimeout, reconnect, onWarning } = options;
  const clean: ConnectOptions = { token, callTimeout, connectTimeout, reconnect, onWarning };
  return openSession(url, new BrowserWebSocketDialer(url), clean);
}

export type { Session } from '../client/gateway-session.js';
export type { Remote, Subscription, CallOptions } from '../remote.js';
export type { ServiceDescription } from '../behaviour.js';
export * from '../errors.js';
export { describeOf, routeOf } from '../remote.js';
