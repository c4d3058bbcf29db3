import test from 'ava';
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidArgumentError, machineId } from '../src/index.js';

const home = () => mkdtempSync(join(tmpdir(), 'qiact-home-'));

test('QIACT_MACHINE_ID is used as it is', (t) => {
  t.is(machineId({ QIACT_MACHINE_ID: 'robot-42', HOME: home() }), 'robot-42');
});

test('a malformed QIACT_MACHINE_ID is refused, naming the variable', (t) => {
  t.throws(() => machineId({ QIACT_MACHINE_ID: 'has space', HOME: home() }), { instanceOf: InvalidArgumentError, message: /QIACT_MACHINE_ID/ });
});

test('without the variable, a random id is created once and survives (same file, same id)', (t) => {
  const env = { HOME: home() };
  const first = machineId(env);
  t.regex(first, /^[0-9a-f-]{36}$/);
  t.is(machineId(env), first);
  t.is(readFileSync(join(env.HOME, '.config', 'qiact', 'machine_id'), 'utf8').trim(), first);
  t.not(machineId({ HOME: home() }), first, 'another computer gets another id');
});

test('XDG_CONFIG_HOME is honoured, and a corrupt id file is replaced', (t) => {
  const config = home();
  mkdirSync(join(config, 'qiact'), { recursive: true });
  writeFileSync(join(config, 'qiact', 'machine_id'), 'not a valid id!\n');
  const id = machineId({ XDG_CONFIG_HOME: config, HOME: home() });
  t.regex(id, /^[0-9a-f-]{36}$/);
  t.is(readFileSync(join(config, 'qiact', 'machine_id'), 'utf8').trim(), id);
});
