// `npm test`: the ava suite under c8 (coverage floor in package.json "c8"), TAP passed through,
// then one plain closing line `N passed, N failed` so that a run that executed nothing shows.
// One test file at a time (package.json "ava".concurrency): the files start workers, processes,
// XMPP servers and npm itself; two at once on a 2-core machine made deadlines fail for load alone.
// ava's own inactivity timeout ("timeout") is long: tests wait with deadlines that name what they
// waited for, and ava 7's TAP reporter crashes on its own timeout, ending the run with no count.
// First, the real servers the tests use, from Debian's packages, are installed if missing
// (as root, with apt-get): tinyproxy (HTTP CONNECT proxy), prosody (XMPP), iptables (NAT).
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { installTestPackages } from './test-packages.js';

installTestPackages();

const bin = join(import.meta.dirname, '..', '..', 'node_modules', '.bin');
const c8 = join(bin, 'c8');
const ava = join(bin, 'ava');
const child = spawn(c8, [ava, '--tap', ...process.argv.slice(2)], {
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
  // ava fails a run whose test file did not exit (something kept it alive) or crashed between
  // tests without a failed test to count: that is a failure too, and the count says so.
  if (code !== 0 && failed === 0) {
    console.log(`# the run failed (exit code ${code}) outside any test: a test file did not exit, or crashed; see above`);
    failed = 1;
  }
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(code === 0 && failed === 0 && passed > 0 ? 0 : code || 1);
});
