import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from './session.js';

/** The folder holding package.json above this file (src/cli in a clone, dist/src/cli when built). */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new UsageError('cannot find the qiact package folder');
    dir = up;
  }
  return dir;
}

const HELP = `Usage: qiact bench [--quick] [--json] [--only <path>]

Runs the benches from a clone (they ship with the source, not the package): call latency and
throughput per path beside a floor measured in the same run (direct, port, unix, tcp, tls,
gateway, xmpp), payloads (a nested message, a 64 KiB Float32Array, a 1 MiB Uint8Array) per path
and the head-of-line row, what a new authenticated link costs, and the directory at robot scale.

Options:
  --quick        fewer rounds: a smoke run (its figures mean little)
  --json         one JSON object per row
  --only <path>  one latency row: direct, port, unix, tcp, tls, gateway or xmpp
  -h, --help     this text`;

/** `qiact bench [args]`: runs bench/run.ts, every bench (from a clone: the bench ships with the source). */
export function runBench(args: readonly string[], print: (line: string) => void = console.log): Promise<number> {
  // The bench's own options pass through, so commander's help is off for it: answer it here.
  if (args.includes('--help') || args.includes('-h')) {
    print(HELP);
    return Promise.resolve(0);
  }
  const root = packageRoot();
  const script = join(root, 'bench', 'run.ts');
  if (!existsSync(script)) throw new UsageError(`the bench ships with the source tree; ${script} is not there`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import=tsx', script, ...args], { cwd: root, stdio: 'inherit' });
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}
