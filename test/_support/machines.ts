import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { within } from './wait.js';

const MACHINE = fileURLToPath(new URL('../fixtures/machine.ts', import.meta.url));

/**
 * Starts test/fixtures/machine.ts (or `fixture`) as a real process: a node with its own machine id that joins
 * the directory at `directory` and offers a Counter named `service`. `command` wraps it (e.g.
 * `ip netns exec NS`). Resolves once its service is registered; stopped at teardown.
 */
export async function otherMachine(
  t: { teardown(fn: () => unknown): void },
  options: { machineId: string; directory: string; listen: string; service: string; command?: string[]; fixture?: string; env?: Record<string, string> },
): Promise<{ child: ChildProcess; endpoints: string[] }> {
  const script = options.fixture ?? MACHINE;
  const env = { ...process.env, QIACT_MACHINE_ID: options.machineId, QIACT_DIRECTORY: options.directory, QIACT_LISTEN: options.listen, SERVICE: options.service, ...options.env };
  const child = options.command
    ? fork(script, [], { env, execPath: options.command[0]!, execArgv: [...options.command.slice(1), process.execPath, ...process.execArgv] })
    : fork(script, [], { env });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const ready = new Promise<string[]>((resolve, reject) => {
    child.once('message', (m) => resolve((m as { ready: string[] }).ready));
    child.once('exit', (code, signal) => reject(new Error(`machine ${options.machineId} exited (${signal ?? code}) before it was ready`)));
  });
  return { child, endpoints: await within(ready, `machine ${options.machineId} to start`, 20_000) };
}
