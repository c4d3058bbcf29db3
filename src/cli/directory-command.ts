import { socketFolder } from '../routing/listeners.js';
import { start } from '../start.js';
import { DEFAULT_DIRECTORY, DEFAULT_DIRECTORY_PORT, untilInterrupted, UsageError } from './session.js';

export interface DirectoryOptions {
  /** Endpoints to listen on; default the robot's TCP port on loopback. */
  listen?: string[];
  /** The most services it holds (default 100,000). */
  maxServices?: string;
  verbose?: boolean;
  json?: boolean;
}

/**
 * The robot's standalone ServiceDirectory: a node whose root supervisor runs the directory,
 * listening on TCP (127.0.0.1:9559 unless told otherwise; never on every interface unless asked)
 * and on a well-known owner-only Unix socket. Runs until interrupted.
 */
export async function runDirectory(options: DirectoryOptions, print: (line: string) => void, warn: (line: string) => void): Promise<number> {
  const listen = options.listen?.length ? options.listen : [DEFAULT_DIRECTORY];
  if (!listen.some((e) => e.startsWith('unix:'))) listen.unshift(`unix:${socketFolder()}/${defaultSocketName(listen)}`);
  // directory: '' — this node is the directory, whatever QIACT_DIRECTORY says.
  const capacity = options.maxServices === undefined ? undefined : Number(options.maxServices);
  if (capacity !== undefined && (!Number.isSafeInteger(capacity) || capacity < 1)) throw new UsageError(`--max-services must be a whole number >= 1, not '${options.maxServices}'`);
  const node = await start({ directory: '', listen, directoryCapacity: capacity, onWarning: (message) => warn(`qiact directory: ${message}`) });
  if (options.json) print(JSON.stringify({ event: 'listening', node: `${node.machineId}/${node.processId}/${node.threadId}`, endpoints: node.endpoints }));
  else print(`qiact directory ${node.machineId}/${node.processId}: listening on ${node.endpoints.join(', ')}`);
  const signal = await untilInterrupted(warn);
  await node.stop();
  print(options.json ? JSON.stringify({ event: 'stopped', signal }) : `qiact directory: stopped (${signal})`);
  return 0;
}

/**
 * The directory's well-known Unix socket: `directory.sock` for the robot's default port (9559),
 * else named after the TCP port it listens on (`directory-9600.sock`), so that two directories on
 * one machine (a test robot beside the real one) do not clash; with port 0, after the process.
 */
export function defaultSocketName(listen: readonly string[]): string {
  const port = listen.map((e) => /^(?:tcp|tls):.*:(\d+)$/.exec(e)?.[1]).find((p) => p !== undefined);
  if (port === undefined || port === String(DEFAULT_DIRECTORY_PORT)) return 'directory.sock';
  return port === '0' ? `directory-pid${process.pid}.sock` : `directory-${port}.sock`;
}
