import { isIP } from 'node:net';
import type { Locality } from '../address.js';
import { InvalidArgumentError } from '../errors.js';

/** A place a node can be reached: a Unix socket path, or a TCP host and port (plain, or TLS). */
export type NetEndpoint = { readonly kind: 'tcp' | 'tls'; readonly host: string; readonly port: number };
export type Endpoint = { readonly kind: 'unix'; readonly path: string } | NetEndpoint;

/**
 * Parses `unix:/path`, `tcp:host:port` and `tls:host:port` (also written `tcp://host:port`; IPv6
 * hosts in brackets). `port:` endpoints name a thread, not a place to dial: they are not parsed
 * here.
 */
export function parseEndpoint(text: string): Endpoint {
  if (typeof text !== 'string') throw new InvalidArgumentError('endpoint', `${String(text)} must be a string`);
  if (text.startsWith('unix:')) {
    const path = text.slice(5).replace(/^\/\//, '');
    if (!path.startsWith('/')) throw new InvalidArgumentError('endpoint', `'${text}' must be unix:/absolute/path`);
    return { kind: 'unix', path };
  }
  const tcp = /^(tcp|tls):(?:\/\/)?(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})\/?$/.exec(text);
  if (tcp) {
    const port = Number(tcp[3]);
    if (port > 65535) throw new InvalidArgumentError('endpoint', `'${text}': port ${port} is above 65535`);
    return { kind: tcp[1] as 'tcp' | 'tls', host: tcp[2]!.replace(/^\[|\]$/g, ''), port };
  }
  throw new InvalidArgumentError('endpoint', `'${text}' must be unix:/path, tcp:host:port or tls:host:port`);
}

export function formatEndpoint(e: Endpoint): string {
  if (e.kind === 'unix') return `unix:${e.path}`;
  return `${e.kind}:${isIP(e.host) === 6 ? `[${e.host}]` : e.host}:${e.port}`;
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

/**
 * The endpoints worth dialling for a node at `locality`, in order of preference, as libqi
 * chooses: on this machine only local ones (Unix, else loopback TCP); on another machine
 * never a loopback address, unless the node advertises nothing else (then it can only be on
 * this host, as when tests give nodes of one host different machine ids). A node with a
 * certificate (`withTls`) dials only the `tls:` endpoints of a node that has any; a node without
 * one cannot dial `tls:` endpoints at all.
 */
export function candidates(locality: Locality, endpoints: readonly string[], withTls = false): Endpoint[] {
  const parsed: Endpoint[] = [];
  for (const text of endpoints) {
    try {
      parsed.push(parseEndpoint(text));
    } catch {
      // port: endpoints and ones this version does not speak are skipped.
    }
  }
  const secure = withTls ? parsed.filter((e): e is NetEndpoint => e.kind === 'tls') : [];
  const tcp = secure.length > 0 ? secure : parsed.filter((e): e is NetEndpoint => e.kind === 'tcp');
  if (locality === 'same-machine' || locality === 'same-process') {
    const unix = parsed.filter((e) => e.kind === 'unix');
    return unix.length > 0 ? unix : tcp.filter((e) => isLoopback(e.host));
  }
  const remote = tcp.filter((e) => !isLoopback(e.host));
  return remote.length > 0 ? remote : tcp;
}
