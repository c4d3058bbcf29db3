import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const cli = join(import.meta.dirname, '..', 'src', 'cli', 'main.ts');
const env = { ...process.env, HOME: mkdtempSync(join(tmpdir(), 'qiact-cli-')), QIACT_DIRECTORY: '' };

const qiact = (...args: string[]) => run(process.execPath, ['--import=tsx', cli, ...args], { env, timeout: 30_000 });

test('the demo runs a supervised robot tree, calls it, hears a signal, survives a crash and stops cleanly', async (t) => {
  const { stdout, stderr } = await qiact('demo');
  t.is(stderr, '');
  for (const expected of [
    /with an embedded directory/,
    /robot: supervisor\(one_for_one\)/,
    /battery: Battery as 'battery' @ \S+\/\d+\/\d+\/\d+/,
    /#1 ServiceDirectory/,
    /motion\.walk\(\{ steps: 3 \}\) -> "walking"/,
    /refused: EventNotAccepted/,
    /battery\.low -> 15%/,
    /tts\.glitch\(\) +-> .*audio device lost/,
    /the supervisor restarted tts/,
    /sentences since restart: 1/,
    /tts: TextToSpeech as 'tts' @ \S+, restarted 1x/,
    /stopped cleanly\.$/m,
  ]) {
    t.regex(stdout, expected);
  }
});

test('--help lists commands and every configuration default; unknown commands fail with one clear line', async (t) => {
  const { stdout } = await qiact('--help');
  for (const command of ['demo', 'directory', 'gateway', 'xmpp', 'token', 'robots', 'run', 'ls', 'info', 'call', 'post', 'get', 'set', 'watch', 'tree', 'top', 'inspect', 'bench']) t.regex(stdout, new RegExp(`^  ${command}\\b`, 'm'));
  t.regex((await qiact('call', '--help')).stdout, /--directory <url>[\s\S]*--json[\s\S]*--timeout <ms>/);
  t.regex(stdout, /QIACT_MACHINE_ID/);
  t.regex(stdout, /QIACT_CALL_TIMEOUT_MS .* default: 30000/);
  t.regex(stdout, /QIACT_SECRET .*\n.*default: ~\/.config\/qiact\/secret/);
  t.regex(stdout, /3 a long-running node went down/);
  const bench = await qiact('bench', '--help');
  t.regex(bench.stdout, /^Usage: qiact bench \[--quick\] \[--json\] \[--only <path>\]/, 'help, not a bench run');
  const error = await t.throwsAsync(qiact('dance'));
  t.is((error as unknown as { code: number }).code, 2);
  t.is((error as unknown as { stderr: string }).stderr, "qiact: unknown command 'dance' (see qiact --help)\n");
});

test('qiact bench runs the bench from a clone, passing its options on', async (t) => {
  const { stdout } = await qiact('bench', '--quick', '--only', 'direct', '--json');
  const [machine, row] = stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>) as [{ measure: string; cores: number; load_1min: number }, { path: string; p50_us: number; ratio: number }];
  t.like(machine, { measure: 'machine' }, "the machine's state comes first");
  t.true(machine.cores > 0 && machine.load_1min >= 0);
  t.is(row.path, 'direct');
  t.true(row.p50_us > 0 && row.ratio > 0);
});
