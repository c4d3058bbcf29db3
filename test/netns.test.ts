import test from 'ava';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { routeOf, start } from '../src/index.js';
import type { Counter } from './fixtures/services.js';
import { otherMachine } from './_support/machines.js';

/**
 * Two "machines" joined by a real interface: the test makes a network namespace and a veth pair
 * (private addresses 10.213.N.1 / .2), runs a node inside the namespace, and calls it over TCP.
 * Needs root (CAP_NET_ADMIN); without it the test is skipped, saying why.
 */
const suffix = process.pid % 250;
const ns = `qiact-ns-${process.pid}`;
const [hostSide, nsSide] = [`qvh${process.pid}`.slice(0, 15), `qvn${process.pid}`.slice(0, 15)];
const [hostIp, nsIp] = [`10.213.${suffix}.1`, `10.213.${suffix}.2`];

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function canMakeNamespaces(): string | null {
  try {
    ip('netns', 'add', ns);
    ip('netns', 'del', ns);
    return null;
  } catch (error) {
    return (error as { stderr?: Buffer }).stderr?.toString().trim() || (error as Error).message;
  }
}

const why = canMakeNamespaces();
if (why !== null) console.log(`netns test skipped: this process cannot create network namespaces (${why}); run as root to include it`);

(why === null ? test : test.skip)('a node in another network namespace is called over TCP across a veth link, never loopback', async (t) => {
  t.teardown(() => {
    try {
      ip('netns', 'del', ns); // takes the veth pair with it
    } catch {
      // already gone
    }
  });
  ip('netns', 'add', ns);
  ip('link', 'add', hostSide, 'type', 'veth', 'peer', 'name', nsSide);
  ip('link', 'set', nsSide, 'netns', ns);
  ip('addr', 'add', `${hostIp}/30`, 'dev', hostSide);
  ip('link', 'set', hostSide, 'up');
  ip('netns', 'exec', ns, 'ip', 'addr', 'add', `${nsIp}/30`, 'dev', nsSide);
  ip('netns', 'exec', ns, 'ip', 'link', 'set', nsSide, 'up');
  ip('netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up');

  const head = await start({ machineId: 'netns-head', listen: [`tcp:${hostIp}:0`] });
  t.teardown(() => head.stop());
  await head.spawn((await import('./fixtures/services.js')).Counter, { name: 'head-counter' });
  const directory = head.endpoints.find((e) => e.startsWith('tcp:'))!;
  const { endpoints } = await otherMachine(t, {
    machineId: 'netns-arm',
    directory,
    listen: `tcp:${nsIp}:0`,
    service: 'ns-counter',
    command: ['ip', 'netns', 'exec', ns],
  });
  t.true(endpoints.includes(endpoints.find((e) => e.startsWith(`tcp:${nsIp}:`))!), `the arm advertises ${endpoints.join(', ')}`);

  const sent = (): number => Number(readFileSync(`/sys/class/net/${hostSide}/statistics/tx_bytes`, 'utf8'));
  const before = sent();
  const arm = await head.service<Counter>('ns-counter');
  t.is(routeOf(arm).path, 'tcp');
  t.is((await arm.where()).machineId, 'netns-arm');
  for (let i = 1; i <= 100; i++) t.is(await arm.add(1), i);
  t.is(await arm.ask('head-counter', 7), 7, 'and the arm calls back across the same link');
  t.true(sent() - before > 100 * 40, `the calls crossed the veth interface (${sent() - before} bytes sent on ${hostSide})`);
});
