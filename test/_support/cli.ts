import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { robotSecret } from '../../src/robot-secret.js';
import { deferred, within } from './wait.js';

const CLI = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');
export const FIXTURES = join(import.meta.dirname, '..', 'fixtures');

/**
 * A private environment: its own home (machine id) and socket folder, no directory set; the
 * robot's secret is the test process's own, as the nodes of one robot share it.
 */
export function cliEnv(): NodeJS.ProcessEnv {
  const home = mkdtempSync(join(tmpdir(), 'qiact-cli-'));
  return { ...process.env, HOME: home, XDG_RUNTIME_DIR: home, QIACT_DIRECTORY: '', QIACT_SECRET: robotSecret().toString('utf8') };
}

/** Runs one `qiact` command to its end; never throws, the test reads the code. */
export function qiact(env: NodeJS.ProcessEnv, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import=tsx', CLI, ...args], { env, timeout: 30_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
      resolve({ code, stdout, stderr });
    });
  });
}

/** A `qiact` command that runs until stopped (directory, run, watch), read line by line. */
export class Running {
  readonly child: ChildProcess;
  readonly stdout: string[] = [];
  readonly stderr: string[] = [];
  readonly exited: Promise<number | string>;
  #waiters: (() => void)[] = [];

  constructor(env: NodeJS.ProcessEnv, args: string[]) {
    this.child = spawn(process.execPath, ['--import=tsx', CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.#read(this.child.stdout!, this.stdout);
    this.#read(this.child.stderr!, this.stderr);
    const exit = deferred<number | string>();
    this.child.once('exit', (code, signal) => exit.resolve(signal ?? code ?? 0));
    this.exited = exit.promise;
  }

  #read(stream: NodeJS.ReadableStream, lines: string[]): void {
    let tail = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      const parts = (tail + chunk).split('\n');
      tail = parts.pop() ?? '';
      lines.push(...parts);
      for (const wake of this.#waiters.splice(0)) wake();
    });
  }

  /** The first line (from the start) on `stream` that matches, waiting for it if need be. */
  async line(stream: 'stdout' | 'stderr', pattern: RegExp, ms = 20_000, from = 0): Promise<string> {
    const find = (): string | undefined => this[stream].slice(from).find((l) => pattern.test(l));
    const search = async (): Promise<string> => {
      for (;;) {
        const found = find();
        if (found !== undefined) return found;
        if (this.child.exitCode !== null || this.child.signalCode !== null) {
          throw new Error(`qiact ${this.child.spawnargs.slice(3).join(' ')} ended without printing ${pattern} (stderr: ${this.stderr.join(' | ')})`);
        }
        const d = deferred();
        this.#waiters.push(d.resolve);
        this.child.once('exit', d.resolve);
        await d.promise;
      }
    };
    return within(search(), `${pattern} on the ${stream} of qiact ${this.child.spawnargs.slice(3).join(' ')}`, ms);
  }

  stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | string> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    return this.exited;
  }
}

/** Starts a long-running `qiact` command, stopped at the test's end. */
export function running(t: { teardown(fn: () => unknown): void }, env: NodeJS.ProcessEnv, ...args: string[]): Running {
  const r = new Running(env, args);
  t.teardown(() => r.stop('SIGKILL'));
  return r;
}
