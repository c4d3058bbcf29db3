import test from 'ava';
import { statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { start } from '../src/index.js';
import { makeCerts } from './_support/certs.js';
import { cliEnv, FIXTURES, qiact, running } from './_support/cli.js';
import { Battery } from './fixtures/robot.js';

// Each test starts several qiact processes: one test at a time.
const socketOf = (endpoints: string[]): string => endpoints.find((e) => e.startsWith('unix:'))!.slice('unix:'.length);

interface Listed {
  name: string;
  machineId: string;
  processId: number;
  endpoints: string[];
  address: string;
}

test.serial('a robot from the shell: qiact directory, two qiact run nodes, ls / info / call / watch / tree, then the directory is killed and restarted and every service is back', async (t) => {
  const env = cliEnv();
  const directory = running(t, env, 'directory', '--listen', 'tcp:127.0.0.1:0');
  const listening = await directory.line('stdout', /listening on/);
  const url = /(tcp:127\.0\.0\.1:\d+)/.exec(listening)![1]!;
  const socket = /unix:(\S+\/qiact\/directory[-\w]*\.sock)/.exec(listening)![1]!.replace(/,$/, '');
  t.is(statSync(socket).mode & 0o777, 0o600, 'an owner-only Unix socket as well');
  t.notRegex(listening, /tcp:0\.0\.0\.0|tcp:\[::\]/, 'never every interface unless asked');
  const d = ['--directory', url];

  const arm = running(t, env, 'run', join(FIXTURES, 'arm.ts'), ...d);
  const head = running(t, env, 'run', join(FIXTURES, 'head.ts'), ...d);
  await arm.line('stdout', /hosting Arm/);
  await head.line('stdout', /hosting the supervision tree of head\.ts/);

  const ls = await qiact(env, 'ls', '--json', ...d);
  t.is(ls.code, 0, ls.stderr);
  const services = JSON.parse(ls.stdout) as Listed[];
  t.deepEqual(services.map((s) => s.name).sort(), ['Arm', 'Head', 'ServiceDirectory']);
  const armInfo = services.find((s) => s.name === 'Arm')!;
  t.is(armInfo.processId, arm.child.pid!);
  t.true(armInfo.endpoints.some((e) => e.startsWith('unix:')));
  t.regex((await qiact(env, 'ls', ...d)).stdout, /^ID +NAME +MACHINE +PROCESS +ENDPOINTS\n/);

  const info = JSON.parse((await qiact(env, 'info', 'Arm', '--json', ...d)).stdout) as { methods: { name: string; signature?: string }[]; signals: string[]; properties: string[] };
  t.deepEqual(info.methods, [{ name: 'move', params: ['degrees'], signature: '(degrees: number) => number' }]);
  t.deepEqual([info.signals, info.properties], [['moved'], ['speed']]);

  t.deepEqual(await qiact(env, 'call', 'Arm.move', '10', ...d), { code: 0, stdout: '10\n', stderr: '' });
  t.is((await qiact(env, 'call', 'Head.say', '"hello"', ...d)).stdout, '"said: hello"\n');

  const moved = running(t, env, 'watch', 'Arm.moved', ...d);
  await moved.line('stderr', /watching Arm\.moved/);
  const added = running(t, env, 'watch', 'ServiceDirectory.serviceAdded', '--json', ...d);
  await added.line('stderr', /watching ServiceDirectory\.serviceAdded/);
  await qiact(env, 'call', 'Arm.move', '5', ...d);
  t.regex(await moved.line('stdout', /Arm\.moved/), /^\d\d:\d\d:\d\d\.\d{3} Arm\.moved 15$/);

  const tree = JSON.parse((await qiact(env, 'tree', '--json', ...d)).stdout) as { node: string; tree: unknown }[];
  t.is(tree.length, 3, 'the directory node and the two run nodes');
  const json = JSON.stringify(tree);
  t.true(json.includes('"name":"Arm"') && json.includes('"name":"Head"') && json.includes('"name":"ServiceDirectory"'));
  t.regex((await qiact(env, 'tree', ...d)).stdout, /head: Head as 'Head' @ \S+/);

  // The directory dies. Resolved handles do not need it; new look-ups fail with one clear line.
  directory.child.kill('SIGKILL');
  await directory.exited;
  const down = await qiact(env, 'ls', ...d);
  t.is(down.code, 1);
  t.regex(down.stderr, /^qiact: cannot reach the directory at tcp:127\.0\.0\.1:\d+: .*ECONNREFUSED.*\n$/);

  // Started again on the same endpoints (the stale socket file is replaced): the nodes find it
  // and register their services again on their own.
  const armLines = arm.stderr.length;
  const headLines = head.stderr.length;
  const again = running(t, env, 'directory', '--listen', url);
  await again.line('stdout', /listening on/);
  await arm.line('stderr', /registered 1 of 1 service\(s\) again/, 20_000, armLines);
  await head.line('stderr', /registered 1 of 1 service\(s\) again/, 20_000, headLines);
  const back = JSON.parse((await qiact(env, 'ls', '--json', ...d)).stdout) as Listed[];
  t.deepEqual(back.map((s) => s.name).sort(), ['Arm', 'Head', 'ServiceDirectory']);
  t.is((await qiact(env, 'call', 'Arm.move', '1', ...d)).stdout, '16\n');
  t.is((await qiact(env, 'call', 'Head.say', '"back"', ...d)).stdout, '"said: back"\n');

  // The watch of the directory's serviceAdded resumed on the new directory.
  const eye = running(t, env, 'run', join(FIXTURES, 'eye.ts'), ...d);
  await eye.line('stdout', /hosting Eye/);
  t.regex(await added.line('stdout', /"name":"Eye"/), /"signal":"serviceAdded"/);
  // And the watch of Arm never stopped.
  await qiact(env, 'call', 'Arm.move', '1', ...d);
  await moved.line('stdout', /Arm\.moved 17$/);

  t.is(await moved.stop('SIGINT'), 0, 'Ctrl-C ends a watch with exit code 0');
});

test.serial('qiact commands fail with one clear line and a distinct exit code', async (t) => {
  const env = cliEnv();
  // With --json, the long-running commands say what they do as JSON lines too.
  const directory = running(t, env, 'directory', '--listen', 'tcp:127.0.0.1:0', '--json');
  const listening = JSON.parse(await directory.line('stdout', /"listening"/)) as { endpoints: string[] };
  const url = listening.endpoints.find((e) => e.startsWith('tcp:'))!;
  const d = ['--directory', url];
  // A second directory on the same machine (another port) gets a socket of its own.
  const second = running(t, env, 'directory', '--listen', 'tcp:127.0.0.1:0', '--json');
  const other = JSON.parse(await second.line('stdout', /"listening"/)) as { endpoints: string[] };
  t.not(socketOf(other.endpoints), socketOf(listening.endpoints));
  const arm = running(t, env, 'run', join(FIXTURES, 'arm.ts'), ...d, '--json');
  t.like(JSON.parse(await arm.line('stdout', /"hosting"/)), { event: 'hosting', hosted: ['Arm'], directory: url });

  const cases: [string[], number, RegExp][] = [
    [['call', 'Nope.move', ...d], 1, /^qiact: no service named 'Nope'/],
    [['call', 'Arm.fly', ...d], 1, /^qiact: .*fly.*\(available: move\)|^qiact: .*no method 'fly'/],
    [['call', 'Arm.move', 'ten', ...d], 2, /^qiact: argument 1 is not JSON/],
    [['call', 'Arm', ...d], 2, /^qiact: expected <service>\.<method>, not 'Arm'/],
    [['get', 'Arm.moved', ...d], 1, /^qiact: .*property moved/],
    [['watch', 'Arm.move', ...d], 1, /^qiact: .*signal move/],
    [['call', 'Arm.move', '1', '--timeout', 'soon', ...d], 2, /^qiact: --timeout must be a whole number/],
    [['ls', '--directory', 'tcp:127.0.0.1:1'], 1, /^qiact: cannot reach the directory at tcp:127\.0\.0\.1:1: /],
    [['ls', '--directory', 'ftp:x'], 1, /^qiact: cannot reach the directory at ftp:x: /],
    [['dance'], 2, /^qiact: unknown command 'dance'/],
    [['run', join(FIXTURES, 'missing.ts'), ...d], 2, /^qiact: cannot load /],
    [['run', join(FIXTURES, 'arm.ts'), ...d], 1, /^qiact: .*'Arm' failed to start: service name 'Arm' is already registered/],
    [['directory', '--listen', `unix:${socketOf(listening.endpoints)}`, '--listen', 'tcp:127.0.0.1:0'], 1, /^qiact: .*another running node listens on that socket .*choose another path/],
  ];
  for (const [args, code, stderr] of cases) {
    const r = await qiact(env, ...args);
    t.is(r.code, code, `qiact ${args.join(' ')}: ${r.stderr}`);
    t.regex(r.stderr, stderr, `qiact ${args.join(' ')}`);
    t.is(r.stderr.trimEnd().split('\n').length, 1, `one line: ${r.stderr}`);
  }
  // get / set round trip, and post.
  t.is((await qiact(env, 'set', 'Arm.speed', '3', ...d)).code, 0);
  t.is((await qiact(env, 'get', 'Arm.speed', ...d)).stdout, '3\n');
  t.is((await qiact(env, 'post', 'Arm.move', '1', ...d)).code, 0);
  t.is((await qiact(env, 'call', 'Arm.move', '0', ...d)).stdout, '3\n', 'the post ran before the next call');
});

test.serial('from outside: qiact gateway with a configuration file, then ls / info / call / watch through it with a token; refusals are one clear line', async (t) => {
  const certs = makeCerts();
  const node = await start({ machineId: 'cli-gw', onWarning: () => {} });
  t.teardown(() => node.stop());
  await node.spawn(Battery, { name: 'battery' });
  const config = join(certs.dir, 'gateway.json');
  const { token, hash } = JSON.parse((await qiact(cliEnv(), 'token', '--json')).stdout) as { token: string; hash: string };
  t.regex(hash, /^sha256:[0-9a-f]{64}$/);
  writeFileSync(config, JSON.stringify({ listen: 'tls://127.0.0.1:0', cert: 'server.crt', key: 'server.key', tokens: { tablet: hash }, permissions: { tablet: { allow: ['battery.*'], deny: ['battery.charge'] } } }));
  const env = cliEnv();
  const directory = node.endpoints.find((e) => e.startsWith('unix:'))!;
  const gatewayProcess = running(t, env, 'gateway', '--config', config, '--directory', directory);
  const url = /listening on (tls:\/\/127\.0\.0\.1:\d+)/.exec(await gatewayProcess.line('stdout', /listening on tls:/))![1]!;
  const g = ['--gateway', url, '--token', token, '--ca', join(certs.dir, 'test-ca.crt')];

  t.deepEqual(await qiact(env, 'ls', ...g), { code: 0, stdout: 'NAME\nbattery\n', stderr: '' });
  const offered = (JSON.parse((await qiact(env, 'info', 'battery', '--json', ...g)).stdout) as { methods: { name: string }[] }).methods.map((m) => m.name);
  t.deepEqual(offered.sort(), ['drain', 'explode', 'hold', 'subscribers'], 'what it may call: charge is denied, so not shown');
  t.is((await qiact(env, 'call', 'battery.drain', '5', ...g)).stdout, '95\n');
  const watch = running(t, env, 'watch', 'battery.level', ...g);
  await watch.line('stderr', /watching battery\.level/);
  await qiact(env, 'call', 'battery.drain', '5', ...g);
  t.regex(await watch.line('stdout', /battery\.level/), / battery\.level 90$/);

  const denied = await qiact(env, 'call', 'battery.charge', ...g);
  t.is(denied.code, 1);
  t.is(denied.stderr, 'qiact: tablet may not use battery.charge\n');
  const tree = await qiact(env, 'tree', ...g);
  t.is(tree.code, 1);
  t.regex(tree.stderr, /^qiact: the robot offers no RobotMetrics\.treesChanged to this client .*must allow RobotMetrics\.treesChanged/);
  const wrong = await qiact(env, 'ls', '--gateway', url, '--token', 'guess', '--ca', join(certs.dir, 'test-ca.crt'));
  t.is(wrong.code, 1);
  t.regex(wrong.stderr, /^qiact: the gateway at tls:\/\/127\.0\.0\.1:\d+ refused this client: authentication failed \(token\): unknown token\n$/);
  const noCredentials = await qiact(env, 'ls', '--gateway', url);
  t.is(noCredentials.code, 2);
  t.regex(noCredentials.stderr, /--gateway needs --token/);
});

test.serial('boot order: a node started before its directory waits for it, saying so once, and joins when it comes', async (t) => {
  const env = cliEnv();
  const port = await new Promise<number>((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
  const url = `tcp:127.0.0.1:${port}`;
  const arm = running(t, env, 'run', join(FIXTURES, 'arm.ts'), '--directory', url);
  await arm.line('stderr', /waiting for the directory at tcp:127\.0\.0\.1:\d+ .*is it running/);
  running(t, env, 'directory', '--listen', url);
  await arm.line('stdout', /hosting Arm/);
  t.is(arm.stderr.filter((l) => /waiting for the directory/.test(l)).length, 1, 'said once');
  const ls = await qiact(env, 'ls', '--json', '--directory', url);
  t.true((JSON.parse(ls.stdout) as Listed[]).some((s) => s.name === 'Arm'));
});
