/**
 * `npm run bench:scale`: a node holding many actors, and the directory at fleet-computer scale.
 * Each actor row runs in a fresh process (bench/scale-actors.ts, on the built runtime); then the
 * directory bench with 100,000 services from 100 nodes. Prints a table, or JSON rows with
 * --json; --quick for a smoke run (10,000 actors, the directory's quick size). Asserts nothing.
 *
 *   actors      idle service actors under dynamic supervisors (100,000 children each, 64
 *               startChild in flight per supervisor): spawn rate, heap per actor (after GC),
 *               p50 of calls to actors picked at random, time to stop them all; each size
 *               without names, then with every actor named in the node's own directory
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { machineRow, machineState } from './machine-state.js';

const json = process.argv.includes('--json');
const quick = process.argv.includes('--quick');
const counts = quick ? [10_000] : [10_000, 100_000, 1_000_000];
if (json) console.log(JSON.stringify(machineRow()));
const rows: Record<string, unknown>[] = [];
for (const count of counts) {
  for (const named of [false, true]) {
    const run = spawnSync(process.execPath, ['--expose-gc', '--max-old-space-size=8192', '--import=tsx', fileURLToPath(new URL('scale-actors.ts', import.meta.url))], {
      env: { ...process.env, COUNT: String(count), NAMED: named ? '1' : '0' },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      timeout: 15 * 60_000,
    });
    if (run.status !== 0) throw new Error(`the ${count}-actor run failed (exit ${run.status ?? run.signal}); is dist/ built (npm run build)?`);
    const row = JSON.parse(run.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
    rows.push(row);
    if (json) console.log(JSON.stringify(row));
  }
}
if (!json) {
  console.log(machineState());
  console.log(`qiact actors at scale: idle service actors in one node (node ${process.version})`);
  console.table(rows);
}

const directory = spawnSync(process.execPath, ['--import=tsx', fileURLToPath(new URL('directory-scale.ts', import.meta.url)), ...(quick ? ['--quick'] : ['--services', '100000']), ...(json ? ['--json'] : [])], { stdio: 'inherit' });
if (directory.status !== 0) process.exit(directory.status ?? 1);
