import { createServer } from 'node:http';
import { isIP } from 'node:net';
import { PageFiles } from '../inspect/page-files.js';
import { untilInterrupted, UsageError } from './session.js';

/** What `qiact inspect` takes. */
export interface InspectOptions {
  /** Where to serve the page: `host:port` on loopback (default 127.0.0.1:8080). */
  listen?: string;
  /** The robot's WebSocket door, which the page connects to: `wss://host:port`. */
  gateway?: string;
  json?: boolean;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/**
 * `qiact inspect --gateway wss://robot:9443`: serves the inspector page on loopback over plain
 * HTTP, for a robot whose Gateway does not serve it itself (or to keep a page of one's own).
 * The page connects straight to the robot's WebSocket door, whose `webSocket.origins` must list
 * this page's origin (`http://127.0.0.1:8080`). Loopback only: a page over plain HTTP from
 * elsewhere could be altered on the way to read the token typed into it.
 */
export async function serveInspector(options: InspectOptions, print: (line: string) => void, warn: (line: string) => void): Promise<number> {
  const m = /^(?:http:\/\/)?(\[[^\]]+\]|[^:/]+):(\d{1,5})\/?$/.exec(options.listen ?? '127.0.0.1:8080');
  const host = m?.[1]!.replace(/^\[|\]$/g, '');
  if (m === null || host === undefined || Number(m[2]) > 65535) throw new UsageError(`--listen takes host:port, not '${options.listen}'`);
  if (!LOOPBACK.has(host)) throw new UsageError(`--listen ${options.listen}: the page is plain HTTP, so it is served on loopback only (127.0.0.1, ::1); a robot's Gateway serves it over TLS on its WebSocket door`);
  // A host name or address only: the URL goes into the page's Content-Security-Policy header.
  if (options.gateway === undefined || !/^wss:\/\/(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}\/?$/.test(options.gateway)) {
    throw new UsageError(`--gateway takes the robot's WebSocket door, wss://host:port${options.gateway === undefined ? '' : `, not '${options.gateway}'`}`);
  }
  const gatewayUrl = options.gateway.replace(/\/$/, '');
  const page = new PageFiles({ gateway: gatewayUrl });
  if (page.missing !== null) throw new Error(page.missing);
  const server = createServer((request, response) => page.serve(request, response));
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) => reject(new Error(`cannot listen on ${options.listen}: ${error.message}`)));
    server.listen(Number(m[2]), host, () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  const url = `http://${isIP(host) === 6 ? `[${host}]` : host}:${port}/`;
  const origin = url.slice(0, -1);
  if (options.json) print(JSON.stringify({ event: 'listening', url, gateway: gatewayUrl, origin }));
  else print(`inspector at ${url} for ${gatewayUrl} (the gateway's webSocket.origins must list ${origin})`);
  const signal = await untilInterrupted(warn);
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  print(options.json ? JSON.stringify({ event: 'stopped', signal }) : `qiact inspect: stopped (${signal})`);
  return 0;
}
