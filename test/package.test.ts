import test from 'ava';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..');
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

// What a user gets: the package as `npm pack` makes it, installed into a new TypeScript project
// (from npm's cache where it can: `npm ci` put the packages there), the README's example compiled with
// `strict` and the default `skipLibCheck: false`, then run.
test('the packed package installs into a fresh strict TypeScript project, and the README example compiles and runs', async (t) => {
  t.timeout(240_000, 'npm pack builds the package, then npm installs it and tsc checks every declaration');
  const dir = mkdtempSync(join(tmpdir(), 'qiact-user-'));
  await run('npm', ['pack', '--pack-destination', dir, '--silent'], { cwd: ROOT, timeout: 120_000 });
  const tarball = readdirSync(dir).find((f) => f.endsWith('.tgz'))!;
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'robot-app', private: true, type: 'module' }));
  await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', join(dir, tarball), '@types/node@20'], { cwd: dir, timeout: 120_000 });
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, skipLibCheck: false, types: ['node'], outDir: 'out' }, include: ['main.ts', 'page.ts'] }),
  );
  // What a web page imports: the browser bundle, its types from the same entry.
  writeFileSync(
    join(dir, 'page.ts'),
    `import { connect, AuthenticationError, type Session } from 'qiact/browser';
export async function open(token: string): Promise<Session | string> {
  try {
    return await connect('wss://robot.local:9443', { token, callTimeout: 5000 });
  } catch (error) {
    return error instanceof AuthenticationError ? error.reason : String(error);
  }
}
`,
  );
  writeFileSync(
    join(dir, 'main.ts'),
    `import { Service, Type, start, type ServiceSchemas, type Static } from 'qiact';

const By = Type.Integer({ minimum: 1 });
class Counter extends Service {
  static override schemas = { methods: { add: { params: [By], result: Type.Integer() } } } satisfies ServiceSchemas;
  readonly changed = this.signal<number>();
  #n = 0;
  add(by: Static<typeof By>) { this.#n += by; this.changed.emit(this.#n); return this.#n; }
}

const node = await start({ machineId: 'user-app', secret: 'a secret for this test robot' });
await node.spawn(Counter, { name: 'counter' });
const counter = await node.service<Counter>('counter');
const seen: number[] = [];
const sub = await counter.changed.connect((n) => seen.push(n));
const total: number = await counter.add(2);
sub.off();
console.log(JSON.stringify({ total, seen }));
await node.stop();
`,
  );
  const compiled = await run(process.execPath, [TSC, '-p', dir], { cwd: dir }).catch((error: { stdout: string }) => error);
  t.is((compiled as { stdout: string }).stdout, '', 'compiles without a type error');
  const { stdout } = await run(process.execPath, [join(dir, 'out', 'main.js')], { cwd: dir, timeout: 30_000 });
  t.deepEqual(JSON.parse(stdout), { total: 2, seen: [2] });
  for (const file of ['qiact.js', 'inspect.html', 'inspect.js', 'inspect.css']) t.true(existsSync(join(dir, 'node_modules', 'qiact', 'dist', 'browser', file)), `the package ships dist/browser/${file}`);
});
