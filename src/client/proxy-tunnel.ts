import { connect, type Socket } from 'node:net';
import { InvalidArgumentError, UnreachableError } from '../errors.js';

/** The most a proxy's answer to CONNECT may be before the tunnel opens. */
const MAX_RESPONSE = 16 * 1024;

/**
 * Opens a TCP tunnel to `host:port` through an HTTP proxy (`http://[user:password@]proxy:port`),
 * with the CONNECT method, as a client behind a corporate proxy must. Resolves to the socket,
 * ready for TLS; the proxy's refusal (status, e.g. 407 for bad proxy credentials) is the error.
 */
export function tunnel(proxy: string, host: string, port: number, timeoutMs: number): Promise<Socket> {
  let url: URL;
  try {
    url = new URL(proxy);
  } catch {
    throw new InvalidArgumentError('proxy', `${JSON.stringify(proxy)} must be http://[user:password@]host:port`);
  }
  if (url.protocol !== 'http:') throw new InvalidArgumentError('proxy', `${proxy}: only http:// proxies (CONNECT) are supported`);
  const where = `proxy ${url.hostname}:${url.port || 80}`;
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port || 80), url.hostname);
    const fail = (why: string): void => {
      socket.destroy();
      reject(new UnreachableError(`${host}:${port}`, `through ${where}: ${why}`));
    };
    socket.setTimeout(timeoutMs, () => fail(`no answer within ${timeoutMs} ms`));
    socket.once('error', (error) => fail(error.message));
    socket.once('connect', () => {
      const target = `${host.includes(':') ? `[${host}]` : host}:${port}`;
      const auth = url.username ? `Proxy-Authorization: Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}\r\n` : '';
      socket.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n${auth}\r\n`);
    });
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) {
        if (head.length > MAX_RESPONSE) fail('its answer to CONNECT is too long');
        return;
      }
      socket.off('data', onData);
      const status = /^HTTP\/1\.[01] (\d{3})([^\r]*)/.exec(head.subarray(0, end).toString('latin1'));
      if (status === null) return fail('it did not answer CONNECT in HTTP');
      if (status[1] !== '200') return fail(`it refused CONNECT: ${status[1]}${status[2]}`);
      const rest = head.subarray(end + 4);
      if (rest.length > 0) socket.unshift(rest);
      socket.setTimeout(0);
      socket.removeAllListeners('error');
      resolve(socket);
    };
    socket.on('data', onData);
  });
}
