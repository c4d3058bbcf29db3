import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { within } from './wait.js';

/**
 * Fails with what to do when a Debian package's program is missing. `npm test` installs them
 * up front as root (test/_support/test-packages.js); a test never waits on apt.
 */
export function ensureDebianPackage(pkg: string, program: string): void {
  if (existsSync(program)) return;
  throw new Error(`this test needs ${program}: install the Debian package '${pkg}' (sudo apt-get install ${pkg}), or run npm test as root, which installs it`);
}

/** A free TCP port on 127.0.0.1 (bound, then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts tinyproxy (Debian's) in the foreground on 127.0.0.1 as an HTTP CONNECT proxy that
 * allows `connectPort` only and asks for `user:password`; stopped at the test's end.
 */
export async function startTinyproxy(t: { teardown(fn: () => unknown): void }, connectPort: number, user: string, password: string): Promise<string> {
  ensureDebianPackage('tinyproxy', '/usr/bin/tinyproxy');
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'qiact-proxy-'));
  const config = join(dir, 'tinyproxy.conf');
  writeFileSync(config, [`Port ${port}`, 'Listen 127.0.0.1', 'Timeout 30', 'MaxClients 50', 'Allow 127.0.0.1', `ConnectPort ${connectPort}`, `BasicAuth ${user} ${password}`, 'LogLevel Info', ''].join('\n'));
  const proxy = spawn('/usr/bin/tinyproxy', ['-d', '-c', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => proxy.kill('SIGKILL'));
  let log = '';
  const ready = new Promise<void>((resolve, reject) => {
    const read = (chunk: Buffer): void => {
      log += chunk.toString();
      if (log.includes('Accepting connections')) resolve();
    };
    proxy.stdout.on('data', read);
    proxy.stderr.on('data', read);
    proxy.once('exit', (code) => reject(new Error(`tinyproxy exited (${code}) before it was ready: ${log}`)));
  });
  await within(ready, 'tinyproxy to start', 10_000);
  return `http://127.0.0.1:${port}`;
}
