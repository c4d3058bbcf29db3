import { receiveBuffers } from '../transport/receive-buffers.js';
import { openSession, type ConnectOptions, type Session } from './gateway-session.js';
import { TlsDialer } from './tls-dialer.js';
import { WebSocketDialer } from './websocket-dialer.js';
import { XmppDialer } from './xmpp-dialer.js';

export type { ConnectOptions, Session } from './gateway-session.js';

/**
 * Connects to a robot from a Node program: through its Gateway's TLS door (`tls://host:port`)
 * or WebSocket door (`wss://host:port`), or through XMPP (`xmpp:robot@domain`). Resolves to a
 * session once the robot has let this client in (see `openSession`).
 */
export async function connect(url: string, options: ConnectOptions = {}): Promise<Session> {
  const dialer = url.startsWith('xmpp:') ? new XmppDialer(url, options) : url.startsWith('wss:') ? new WebSocketDialer(url, options) : new TlsDialer(url, options);
  // A large result that came over the TLS door in slices may be given back with release().
  return openSession(url, dialer, options, (received) => receiveBuffers.offer(received));
}
