import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { InvalidArgumentError } from './errors.js';

const VALID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Where the persisted machine id lives: `$XDG_CONFIG_HOME/qiact/machine_id` or `~/.config/qiact/machine_id`. */
export function machineIdPath(env: NodeJS.ProcessEnv = process.env): string {
  const config = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config');
  return join(config, 'qiact', 'machine_id');
}

/**
 * The stable id of this computer: `QIACT_MACHINE_ID` if set, else the id stored in
 * {@link machineIdPath}, created once as a random UUID so it survives reboots.
 */
export function machineId(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.QIACT_MACHINE_ID;
  if (fromEnv !== undefined && fromEnv !== '') {
    if (!VALID.test(fromEnv)) throw new InvalidArgumentError('QIACT_MACHINE_ID', `'${fromEnv}' must be 1-128 of [A-Za-z0-9._:-]`);
    return fromEnv;
  }
  const file = machineIdPath(env);
  const stored = readStored(file);
  if (stored) return stored;
  mkdirSync(dirname(file), { recursive: true });
  // Write aside then rename: two processes racing both end with one complete id in the file.
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${randomUUID()}\n`, { mode: 0o644 });
  try {
    renameSync(tmp, file);
  } catch {
    /* another process won the race; its id is read below */
  }
  const id = readStored(file);
  if (!id) throw new InvalidArgumentError('machine id file', `${file} could not be created`);
  return id;
}

function readStored(file: string): string | undefined {
  try {
    const id = readFileSync(file, 'utf8').trim();
    return VALID.test(id) ? id : undefined;
  } catch {
    return undefined;
  }
}
