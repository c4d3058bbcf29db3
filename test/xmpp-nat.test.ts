import test from 'ava';
import { execFileSync, fork } from 'node:child_process';
import { connect as tcpConnect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { connect, robots } from '../src/index.js';
import { ensureDebianPackage } from './_support/real-parts.js';
import { startProsody } from './_support/prosody.js';
import { Collector, within } from './_support/wait.js';
import type { Battery } from './fixtures/robot.js';

/**
 * A robot behind a NAT, as at home or at school: namespace `robot` (10.214.N.2) routes through
 * namespace `nat` (10.214.N.1 / 10.215.N.2), which masquerades it and drops new connections from
 * outside; outside is this test's own namespace (10.215.N.1), where the XMPP server and the client
 * are. The robot can dial out; nobody can dial in. Namespaces, veth pairs and rules are made and
 * removed by the test. Needs root; skipped otherwise, saying why.
 */
const n = (process.pid % 200) + 20;
const tag = String(process.pid).slice(-6);
const [robotNs, natNs] = [`qiact-robot-${tag}`, `qiact-nat-${tag}`];
const [robotIf, natInIf, natOutIf, outIf] = [`qr${tag}`, `qni${tag}`, `qno${tag}`, `qo${tag}`];
const [robotIp, natInIp, natOutIp, outIp] = [`10.214.${n}.2`, `10.214.${n}.1`, `10.215.${n}.2`, `10.215.${n}.1`];

function run(...args: string[]): void {
  execFileSync(args[0]!, args.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
}
const inNs = (ns: string, ...args: string[]): void => run('ip', 'netns', 'exec', ns, ...args);

function privilege(): string | null {
  try {
    run('ip', 'netns', 'add', robotNs);
    run('ip', 'netns', 'del', robotNs);
    ensureDebianPackage('iptables', '/usr/sbin/iptables');
    return null;
  } catch (error) {
    return (error as { stderr?: Buffer }).stderr?.toString().trim() || (error as Error).message;
  }
}

const why = privilege();
if (why !== null) console.log(`NAT test skipped: this process cannot create network namespaces or NAT rules (${why}); run as root to include it`);

(why === null ? test : test.skip)('a robot behind a NAT cannot be dialled, yet through XMPP it is called and watched from outside', async (t) => {
  t.teardown(() => {
    for (const ns of [robotNs, natNs]) {
      try {
        run('ip', 'netns', 'del', ns); // takes its veth pairs along
      } catch {
        // already gone
      }
    }
  });
  run('ip', 'netns', 'add', robotNs);
  run('ip', 'netns', 'add', natNs);
  run('ip', 'link', 'add', robotIf, 'type', 'veth', 'peer', 'name', natInIf);
  run('ip', 'link', 'set', robotIf, 'netns', robotNs);
  run('ip', 'link', 'set', natInIf, 'netns', natNs);
  run('ip', 'link', 'add', outIf, 'type', 'veth', 'peer', 'name', natOutIf);
  run('ip', 'link', 'set', natOutIf, 'netns', natNs);
  inNs(robotNs, 'ip', 'addr', 'add', `${robotIp}/30`, 'dev', robotIf);
  inNs(robotNs, 'ip', 'link', 'set', robotIf, 'up');
  inNs(robotNs, 'ip', 'link', 'set', 'lo', 'up');
  inNs(robotNs, 'ip', 'route', 'add', 'default', 'via', natInIp);
  inNs(natNs, 'ip', 'addr', 'add', `${natInIp}/30`, 'dev', natInIf);
  inNs(natNs, 'ip', 'addr', 'add', `${natOutIp}/30`, 'dev', natOutIf);
  inNs(natNs, 'ip', 'link', 'set', natInIf, 'up');
  inNs(natNs, 'ip', 'link', 'set', natOutIf, 'up');
  inNs(natNs, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1');
  inNs(natNs, 'iptables', '-t', 'nat', '-A', 'POSTROUTING', '-o', natOutIf, '-j', 'MASQUERADE');
  inNs(natNs, 'iptables', '-A', 'FORWARD', '-i', natOutIf, '-o', natInIf, '-m', 'conntrack', '--ctstate', 'NEW', '-j', 'DROP');
  run('ip', 'addr', 'add', `${outIp}/30`, 'dev', outIf);
  run('ip', 'link', 'set', outIf, 'up');
  // Outside knows the way to the robot's network: only the NAT's rule keeps it out.
  run('ip', 'route', 'add', `10.214.${n}.0/30`, 'via', natOutIp);

  const server = await startProsody(t, [outIp]);
  server.register('robot1', 'robot-pw');
  server.register('alice', 'alice-pw');
  const robot = fork(fileURLToPath(new URL('./fixtures/xmpp-robot.ts', import.meta.url)), [], {
    execPath: 'ip',
    execArgv: ['netns', 'exec', robotNs, process.execPath, ...process.execArgv],
    env: {
      ...process.env,
      QIACT_MACHINE_ID: 'robot-behind-nat',
      QIACT_LISTEN: `tcp:${robotIp}:0`,
      XMPP_SERVICE: server.service,
      XMPP_PASSWORD: 'robot-pw',
      XMPP_PERMISSIONS: JSON.stringify({ 'alice@localhost': { allow: ['battery.*'] } }),
    },
  });
  t.teardown(() => robot.kill('SIGKILL'));
  const ready = new Promise<string[]>((resolve, reject) => {
    robot.on('message', (m) => (m as { ready?: string[] }).ready && resolve((m as { ready: string[] }).ready));
    robot.once('exit', (code) => reject(new Error(`the robot exited (${code}) before it was online`)));
  });
  const endpoints = await within(ready, 'the robot behind the NAT to come online', 30_000);

  // Nobody outside can open a TCP connection to it.
  const tcp = endpoints.find((e) => e.startsWith(`tcp:${robotIp}:`))!;
  const port = Number(tcp.split(':').pop());
  const dialled = await new Promise<string>((resolve) => {
    const socket = tcpConnect({ host: robotIp, port, timeout: 1500 });
    socket.once('connect', () => (socket.destroy(), resolve('connected')));
    socket.once('timeout', () => (socket.destroy(), resolve('timed out')));
    socket.once('error', (error) => resolve(error.message));
  });
  t.not(dialled, 'connected', `a direct TCP connection to ${tcp} must fail (${dialled})`);

  // The XMPP server sees the robot as the NAT's address.
  const peers = execFileSync('ss', ['-Htn', 'state', 'established', `( sport = :${server.port} )`], { encoding: 'utf8' });
  t.regex(peers, new RegExp(`${natOutIp.replace(/\./g, '\\.')}:\\d+`), 'the robot reaches the server masqueraded as the NAT');
  t.notRegex(peers, new RegExp(robotIp.replace(/\./g, '\\.')));

  const alice = { jid: 'alice@localhost', password: 'alice-pw', service: server.service };
  const session = await connect('xmpp:robot1@localhost', { ...alice, onWarning: () => {} });
  t.teardown(() => session.close());
  const battery = await session.service<Battery>('battery');
  const levels = new Collector<number>();
  await battery.level.connect(levels.push);
  t.is(await battery.drain(30), 70);
  t.deepEqual(await levels.count(1), [70]);
  const [seen] = await robots(alice);
  t.like(seen, { jid: 'robot1@localhost', machineId: 'robot-behind-nat', online: true });
});
