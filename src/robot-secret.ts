import { randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { InvalidArgumentError } from './errors.js';

/** The shortest secret accepted: a short one could be guessed from a recorded handshake offline. */
const MIN_LENGTH = 16;

/** Where the robot's secret lives: `$XDG_CONFIG_HOME/qiact/secret` or `~/.config/qiact/secret`. */
export function secretPath(env: NodeJS.ProcessEnv = process.env): string {
  const config = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config');
  return join(config, 'qiact', 'secret');
}

/**
 * The robot's secret, which every node of the robot proves it holds when it connects to another
 * (see transport/handshake.ts): `given` (the `secret` start option) if set, else
 * `QIACT_SECRET`, else the file {@link secretPath}, created once with 32 random bytes, readable
 * by its owner only. The nodes of one robot's computers share it: copy the file, or set the
 * variable. It never crosses the wire.
 */
export function robotSecret(given?: string, env: NodeJS.ProcessEnv = process.env): Buffer {
  if (given !== undefined) return checked(given, 'the secret option');
  const fromEnv = env.QIACT_SECRET;
  if (fromEnv !== undefined && fromEnv !== '') return checked(fromEnv, 'QIACT_SECRET');
  const file = secretPath(env);
  return checked(readStored(file) ?? create(file), file);
}

function checked(secret: string, where: string): Buffer {
  if (typeof secret !== 'string' || secret.trim().length < MIN_LENGTH) {
    throw new InvalidArgumentError('secret', `${where} must hold at least ${MIN_LENGTH} characters`);
  }
  return Buffer.from(secret.trim(), 'utf8');
}

function readStored(file: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  // As ssh does with keys: a secret others can read is no secret.
  const mode = statSync(file).mode & 0o077;
  if (mode !== 0) throw new InvalidArgumentError('secret', `${file} can be read by other users (mode ${(statSync(file).mode & 0o777).toString(8)}): chmod 600 it`);
  return text;
}

function create(file: string): string {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  // Written aside, then linked into place: link fails if the file exists, so two processes
  // racing on a fresh machine both end up with the one secret that won, complete.
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(tmp, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  try {
    linkSync(tmp, file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw new InvalidArgumentError('secret', `${file} could not be created: ${(error as Error).message}`);
  } finally {
    unlinkSync(tmp);
  }
  const stored = readStored(file);
  if (stored === undefined) throw new InvalidArgumentError('secret', `${file} could not be read back`);
  return stored;
}
