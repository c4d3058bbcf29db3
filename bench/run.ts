/**
 * `npm run bench` / `qiact bench`: every bench in turn, each in its own process so that one
 * does not warm or load the other, with the same options (--quick, --json, --only <path>).
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { machineRow } from './machine-state.js';

const args = process.argv.slice(2);
// With --json, the machine's state leads the rows (each bench prints it above its table otherwise).
if (args.includes('--json')) console.log(JSON.stringify(machineRow()));
const only = args.includes('--only');
const benches = only ? ['latency.ts'] : ['latency.ts', 'payloads.ts', 'tracing.ts', 'handshake.ts', 'directory-scale.ts'];
for (const bench of benches) {
  const script = fileURLToPath(new URL(bench, import.meta.url));
  const { status } = spawnSync(process.execPath, ['--import=tsx', script, ...args], { stdio: 'inherit' });
  if (status !== 0) process.exit(status ?? 1);
}
