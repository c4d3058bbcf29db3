import { UnreachableError } from '../errors.js';
import type { Node } from '../node.js';
import { start } from '../start.js';
import type { StartOptions } from '../node-core.js';
import { supervisor, type ChildSpec } from '../supervision/child-spec.js';

/** Where a robot's directory listens by default, as libqi's (`qicli` uses the same). */
export const DEFAULT_DIRECTORY_PORT = 9559;
export const DEFAULT_DIRECTORY = `tcp:127.0.0.1:${DEFAULT_DIRECTORY_PORT}`;

/** Options every command that talks to a robot takes. */
export interface RobotOptions {
  directory?: string;
  json?: boolean;
  timeout?: string;
  verbose?: boolean;
}

/** A mistake in the command line itself: exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** The directory to use: `--directory`, else QIACT_DIRECTORY, else the robot default. */
export function directoryOf(options: RobotOptions, env: NodeJS.ProcessEnv = process.env): string {
  return options.directory ?? (env.QIACT_DIRECTORY || DEFAULT_DIRECTORY);
}

export function timeoutOf(options: RobotOptions): number | undefined {
  if (options.timeout === undefined) return undefined;
  const ms = Number(options.timeout);
  if (!Number.isInteger(ms) || ms < 1) throw new UsageError(`--timeout must be a whole number of milliseconds, not '${options.timeout}'`);
  return ms;
}

/**
 * A node for one command: it offers nothing, and uses the robot's directory. Runtime warnings
 * (a link closing...) are for `--verbose` only: a command prints its result and nothing else.
 */
export async function joinRobot(options: RobotOptions, warn: (line: string) => void, extra: StartOptions = {}): Promise<Node> {
  const timeout = timeoutOf(options);
  const directory = directoryOf(options);
  try {
    return await start({
      directory,
      // A one-shot command fails at once when the directory is not there; the long-running
      // ones (run, gateway, xmpp) wait for it, as a node started beside it by systemd must.
      directoryWait: 0,
      ...(timeout === undefined ? {} : { callTimeout: timeout }),
      onWarning: options.verbose ? (message) => warn(`qiact: ${message}`) : () => {},
      ...extra,
    });
  } catch (error) {
    const why = error instanceof UnreachableError ? error.reason : (error as Error).message;
    throw new Error(`cannot reach the directory at ${directory}: ${why}`, { cause: error });
  }
}

/** Splits `service.member` at its last dot (service names may hold dots, members may not). */
export function memberOf(text: string, what: string): { service: string; member: string } {
  const dot = text.lastIndexOf('.');
  if (dot <= 0 || dot === text.length - 1) throw new UsageError(`expected <service>.<${what}>, not '${text}'`);
  return { service: text.slice(0, dot), member: text.slice(dot + 1) };
}

/** Each argument is one JSON value: `qiact call counter.add 2 '{"by":3}'`. */
export function jsonArgs(args: readonly string[]): unknown[] {
  return args.map((text, i) => {
    try {
      return JSON.parse(text) as unknown;
    } catch (error) {
      throw new UsageError(`argument ${i + 1} is not JSON (${(error as Error).message}): ${text}  (hint: quote strings, e.g. '"hello"')`);
    }
  });
}

/** How long a long-running command may take to stop once asked, before it exits regardless. */
export const STOP_GRACE_MS = 10_000;

/**
 * Resolves when the process is asked to stop (Ctrl-C, SIGTERM), so that the command stops its
 * node cleanly. Asked again, or still running `graceMs` later, the process exits at once with
 * code 1: a stop signal always ends it.
 */
export function untilInterrupted(warn: (line: string) => void = () => {}, graceMs = STOP_GRACE_MS): Promise<string> {
  return new Promise((resolve) => {
    const stop = (signal: string): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      const force = (why: string): never => {
        warn(`qiact: ${why}; exiting now`);
        process.exit(1);
      };
      process.once('SIGINT', () => force('asked again to stop'));
      process.once('SIGTERM', () => force('asked again to stop'));
      setTimeout(() => force(`still stopping ${graceMs} ms after ${signal}`), graceMs).unref();
      resolve(signal);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

/**
 * The long-running commands that run one part of the robot (`gateway`, `xmpp`): a node that
 * joins the directory, runs `child` under a supervisor (restarted if it crashes), says it is
 * ready with what `ready` returns, and stops on Ctrl-C or SIGTERM.
 */
export async function runPart(
  command: string,
  options: RobotOptions,
  child: ChildSpec,
  ready: (node: Node) => Promise<Record<string, unknown> & { line: string }>,
  print: (line: string) => void,
  warn: (line: string) => void,
): Promise<number> {
  const node = await joinRobot(options, warn, { directoryWait: Infinity, onWarning: (message) => warn(`qiact ${command}: ${message}`) });
  try {
    await node.supervise(supervisor({ strategy: 'one_for_one', intensity: 5, period: 10_000, children: [child] }));
    const { line, ...fields } = await ready(node);
    print(options.json ? JSON.stringify(fields) : `qiact ${command}: ${line}`);
    const signal = await untilInterrupted(warn);
    print(options.json ? JSON.stringify({ event: 'stopped', signal }) : `qiact ${command}: stopped (${signal})`);
    return 0;
  } finally {
    await node.stop();
  }
}
