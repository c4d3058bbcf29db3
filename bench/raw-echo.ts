/**
 * The raw floors' far end: a bare echo with no runtime, started by the Echo service in its own
 * thread or process (so that floor and runtime are answered by the same thread, in the same
 * scheduling state).
 */
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Echoes every message posted on the BroadcastChannel `name` back on it, from the calling thread.
 * A BroadcastChannel because it needs no port handed over: the thread of a service placed in a
 * worker can open it by name. (A bare worker of its own would be a third thread, and on this
 * 2-core machine the scheduler then favours one thread over the other, which skews the ratio.)
 */
export function channelEcho(name: string): void {
  const channel = new BroadcastChannel(name);
  channel.onmessage = (event) => channel.postMessage((event as MessageEvent).data);
  (channel as unknown as { unref(): void }).unref();
}

/** Starts a bare echo on a new Unix socket (resolves to its path) or on TCP loopback (to its port). */
export function listenRawEcho(kind: 'unix' | 'tcp'): Promise<string | number> {
  const server = createServer((socket) => {
    socket.setNoDelay(true);
    socket.on('data', (chunk) => socket.write(chunk));
    socket.on('error', () => {});
  });
  server.unref();
  return new Promise((resolve) => {
    const onListening = (): void => {
      const address = server.address();
      resolve(typeof address === 'string' ? address : address!.port);
    };
    if (kind === 'unix') server.listen(join(mkdtempSync(join(tmpdir(), 'qiact-bench-')), 'echo.sock'), onListening);
    else server.listen(0, '127.0.0.1', onListening);
  });
}

/**
 * Starts a bare echo over TLS on loopback (resolves to its port), with the certificate and key
 * given: the floor of the Gateway's TLS door (TLS and TCP only, no runtime).
 */
export function listenTlsEcho(cert: string, key: string): Promise<number> {
  const server = createTlsServer({ cert, key }, (socket) => {
    socket.setNoDelay(true);
    socket.on('data', (chunk) => socket.write(chunk));
    socket.on('error', () => {});
  });
  server.unref();
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
}
