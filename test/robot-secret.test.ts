import test from 'ava';
import { chmodSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidArgumentError } from '../src/index.js';
import { robotSecret, secretPath } from '../src/robot-secret.js';

const home = () => mkdtempSync(join(tmpdir(), 'qiact-home-'));

test("the robot's secret is created once, owner-only, and read back the same", (t) => {
  const env = { HOME: home() };
  const first = robotSecret(undefined, env);
  t.is(first.length, 64, '32 random bytes, as hex');
  t.deepEqual(robotSecret(undefined, env), first);
  t.is(statSync(secretPath(env)).mode & 0o777, 0o600);
  t.is(readFileSync(join(env.HOME, '.config', 'qiact', 'secret'), 'utf8').trim(), first.toString());
  t.notDeepEqual(robotSecret(undefined, { HOME: home() }), first, 'another robot gets another secret');
});

test('the option comes first, then QIACT_SECRET, then the file; a short secret is refused', (t) => {
  const env = { HOME: home(), QIACT_SECRET: 'from the environment' };
  t.is(robotSecret('from the start option', env).toString(), 'from the start option');
  t.is(robotSecret(undefined, env).toString(), 'from the environment');
  t.throws(() => robotSecret('short', env), { instanceOf: InvalidArgumentError, message: /at least 16 characters/ });
  t.throws(() => robotSecret(undefined, { HOME: home(), QIACT_SECRET: 'tiny' }), { instanceOf: InvalidArgumentError, message: /QIACT_SECRET/ });
});

test('a secret file that other users can read is refused, naming the file and the fix', (t) => {
  const env = { HOME: home() };
  robotSecret(undefined, env);
  chmodSync(secretPath(env), 0o644);
  t.throws(() => robotSecret(undefined, env), { instanceOf: InvalidArgumentError, message: /can be read by other users \(mode 644\): chmod 600/ });
});
