import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { InvalidArgumentError } from '../../src/errors.js';

/**
 * The stored form of a bearer token: `sha256:<hex>`. Tokens are random (see `newToken`), so a
 * plain hash is enough to keep a leaked configuration from giving the tokens away; a slow
 * password hash would only slow every connection down.
 */
export function hashToken(token: string): string {
  return `sha256:${createHash('sha256').update(token, 'utf8').digest('hex')}`;
}

/** A new random token (32 bytes, base64url) and the hash to put in the gateway's configuration. */
export function newToken(): { token: string; hash: string } {
  const token = randomBytes(32).toString('base64url');
  return { token, hash: hashToken(token) };
}

/** Identities by token hash; compared in constant time. */
export class TokenBook {
  readonly #entries: { identity: string; digest: Buffer }[] = [];

  constructor(tokens: Readonly<Record<string, string>>) {
    for (const [identity, hash] of Object.entries(tokens)) {
      const m = typeof hash === 'string' ? /^sha256:([0-9a-f]{64})$/.exec(hash) : null;
      if (m === null) throw new InvalidArgumentError(`tokens.${identity}`, "must be a token hash 'sha256:<64 hex digits>' (from hashToken or `qiact token`), never the token itself");
      this.#entries.push({ identity, digest: Buffer.from(m[1]!, 'hex') });
    }
  }

  /** The identity a token belongs to, or undefined. */
  identify(token: unknown): string | undefined {
    if (typeof token !== 'string' || token.length === 0 || token.length > 1024) return undefined;
    const digest = createHash('sha256').update(token, 'utf8').digest();
    let found: string | undefined;
    // Every entry is compared, found or not: the time taken does not tell which one matched.
    for (const e of this.#entries) if (timingSafeEqual(e.digest, digest) && found === undefined) found = e.identity;
    return found;
  }
}
