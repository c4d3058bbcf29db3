// `npm test`: the ava suite under c8 (coverage floor in package.json "c8"), TAP passed through,
// then one plain closing line `N passed, N failed` so that a run that executed nothing shows.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);
const c8 = join(dirname(require.resolve('c8/package.json')), 'bin', 'c8.js');
const ava = join(dirname(require.resolve('ava/package.json')), 'entrypoints', 'cli.mjs');
const child = spawn(process.execPath, [c8, process.execPath, ava, '--tap', ...process.argv.slice(2)], {
  stdio: ['inherit', 'pipe', 'inherit'],
});
let passed = 0;
let failed = 0;
let tail = '';
child.stdout.on('data', (chunk) => {
  process.stdout.write(chunk);
  const lines = (tail + chunk.toString()).split('\n');
  tail = lines.pop() ?? '';
  for (const line of lines) {
    const m = /^# (pass|fail) (\d+)/.exec(line);
    if (m) m[1] === 'pass' ? (passed = Number(m[2])) : (failed = Number(m[2]));
  }
});
child.on('close', (code) => {
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(code === 0 && failed === 0 && passed > 0 ? 0 : code || 1);
});
