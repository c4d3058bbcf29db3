import { readFileSync } from 'node:fs';
import type { ConnectionOptions, TlsOptions } from 'node:tls';
import { InvalidArgumentError } from '../errors.js';

/**
 * A node's certificate for `tls:` links between the robot's computers: its own certificate and
 * key, and the robot's CA, which signed every node's certificate. Both ends of a TLS node link
 * show a certificate the other verifies against that CA (mutual TLS); the handshake of the robot's
 * secret then runs inside, as on every link.
 */
export interface NodeTls {
  /** PEM texts. */
  readonly cert: string;
  readonly key: string;
  readonly ca: string;
}

/** The `tls` start option, else the PEM files named by QIACT_TLS_CERT, QIACT_TLS_KEY and QIACT_TLS_CA; else none. */
export function nodeTls(given: NodeTls | undefined, env: NodeJS.ProcessEnv): NodeTls | undefined {
  if (given !== undefined) {
    for (const field of ['cert', 'key', 'ca'] as const) {
      if (typeof given[field] !== 'string' || !given[field].includes('-----BEGIN')) throw new InvalidArgumentError(`tls.${field}`, 'must be PEM text');
    }
    return given;
  }
  const files = { cert: env.QIACT_TLS_CERT, key: env.QIACT_TLS_KEY, ca: env.QIACT_TLS_CA };
  const set = Object.values(files).filter((f) => f !== undefined && f !== '');
  if (set.length === 0) return undefined;
  if (set.length < 3) throw new InvalidArgumentError('QIACT_TLS_CERT', 'QIACT_TLS_CERT, QIACT_TLS_KEY and QIACT_TLS_CA go together');
  const read = (name: string, file: string): string => {
    try {
      return readFileSync(file, 'utf8');
    } catch (error) {
      throw new InvalidArgumentError(name, `cannot read ${file}: ${(error as Error).message}`);
    }
  };
  return { cert: read('QIACT_TLS_CERT', files.cert!), key: read('QIACT_TLS_KEY', files.key!), ca: read('QIACT_TLS_CA', files.ca!) };
}

/** A `tls:` listener: only peers with a certificate from the robot's CA get past TLS. */
export function tlsListenOptions(tls: NodeTls, handshakeTimeoutMs: number): TlsOptions {
  return { cert: tls.cert, key: tls.key, ca: tls.ca, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2', handshakeTimeout: handshakeTimeoutMs };
}

/**
 * Dialling a `tls:` endpoint: the peer's certificate must come from the robot's CA. Its host name
 * is not checked: nodes are found at addresses the directory gives, and which node is there is
 * proven by the secret's handshake that follows.
 */
export function tlsDialOptions(tls: NodeTls, host: string, port: number): ConnectionOptions {
  return { host, port, cert: tls.cert, key: tls.key, ca: tls.ca, minVersion: 'TLSv1.2', checkServerIdentity: () => undefined };
}
