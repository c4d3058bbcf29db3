import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureDebianPackage, freePort } from './real-parts.js';
import { deferred, within } from './wait.js';

/** A real XMPP server for a test: Debian's prosody, from a config in a temp folder. */
export interface Prosody {
  readonly port: number;
  /** `xmpp://<host>:<port>` */
  readonly service: string;
  readonly domain: 'localhost';
  register(user: string, password: string): void;
  /** Stops the server (SIGTERM, as an operator would) and waits for it to end. */
  stop(): Promise<void>;
  /** Starts it again on the same port, with the same accounts. */
  start(): Promise<void>;
}

/**
 * Starts prosody on `host` (127.0.0.1 unless a test's namespace address is given), plain c2s
 * (no TLS: the link is on loopback or a test network), cheap SCRAM iterations so that logins
 * take milliseconds. Stopped at the test's end.
 */
export async function startProsody(t: { teardown(fn: () => unknown): void }, hosts: readonly string[] = ['127.0.0.1']): Promise<Prosody> {
  ensureDebianPackage('prosody', '/usr/bin/prosody');
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'qiact-prosody-'));
  mkdirSync(join(dir, 'data'));
  const config = join(dir, 'prosody.cfg.lua');
  writeFileSync(
    config,
    [
      'daemonize = false',
      'run_as_root = true',
      `pidfile = "${join(dir, 'prosody.pid')}"`,
      `data_path = "${join(dir, 'data')}"`,
      `interfaces = { ${hosts.map((h) => `"${h}"`).join(', ')} }`,
      `c2s_ports = { ${port} }`,
      's2s_ports = { }',
      'c2s_require_encryption = false',
      'allow_unencrypted_plain_auth = true',
      'authentication = "internal_hashed"',
      'default_iteration_count = 64',
      'modules_enabled = { "roster"; "saslauth"; "disco"; "ping"; "presence"; "posix" }',
      'modules_disabled = { "s2s"; "tls" }',
      `log = { info = "${join(dir, 'prosody.log')}" }`,
      'VirtualHost "localhost"',
      '',
    ].join('\n'),
  );
  let server: ChildProcess | null = null;
  const up = async (): Promise<void> => {
    const child = spawn('/usr/bin/prosody', ['--config', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    server = child;
    let errors = '';
    child.stderr!.on('data', (c: Buffer) => (errors += c.toString()));
    // Ready when its port accepts connections.
    const { connect } = await import('node:net');
    await within(
      (async () => {
        for (;;) {
          if (child.exitCode !== null) throw new Error(`prosody exited (${child.exitCode}): ${errors}`);
          const ok = await new Promise<boolean>((resolve) => {
            const s = connect(port, hosts[0]!);
            s.once('connect', () => (s.destroy(), resolve(true)));
            s.once('error', () => resolve(false));
          });
          if (ok) return;
          const tick = deferred();
          setImmediate(tick.resolve);
          await tick.promise;
        }
      })(),
      'prosody to listen',
      10_000,
    );
  };
  const down = async (): Promise<void> => {
    const child = server;
    server = null;
    if (child === null || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await within(exited, 'prosody to stop');
  };
  await up();
  t.teardown(() => (server as ChildProcess | null)?.kill('SIGKILL'));
  return {
    port,
    service: `xmpp://${hosts[0]}:${port}`,
    domain: 'localhost',
    register: (user, password) => void execFileSync('/usr/bin/prosodyctl', ['--config', config, 'register', user, 'localhost', password], { stdio: 'pipe' }),
    stop: down,
    start: up,
  };
}
