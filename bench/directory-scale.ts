/**
 * The directory at robot scale: NODES nodes registering SERVICES services in all, as on a robot
 * whose processes all use one standalone directory. The directory runs in its own process; one
 * node runs in another process (so that it can be killed), the others in this process, each with
 * its own machine id, so that every node has its own TCP link to the directory. Prints a table,
 * or JSON rows with --json; --quick for a smoke run. Asserts nothing.
 *
 *   registration   services registered per second (name reserved, service started, made ready),
 *                  every node registering at once
 *   look-up        one directory.lookup(name) from another node, p50 / p99
 *   ls             directory.list() of every service, as `qiact ls` does
 *   purge          from kill -9 of a node to serviceRemoved for each of its services
 *   memory         the directory process's resident memory, and its heap per entry (after GC)
 *
 * `--services N` sets the size: N services from N/1000 nodes (at least 10); `bench:scale` runs
 * it with 100,000.
 */
import { machineState } from './machine-state.js';
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { DIRECTORY_NAME, start, type Node, type ServiceDirectory } from '../dist/src/index.js';
import { Sink } from './services.js';

const json = process.argv.includes('--json');
const quick = process.argv.includes('--quick');
const servicesArg = process.argv.indexOf('--services');
const SERVICES = servicesArg > 0 ? Number(process.argv[servicesArg + 1]) : quick ? 1_000 : 10_000;
if (!Number.isInteger(SERVICES) || SERVICES < 100) throw new Error(`--services takes a whole number of at least 100, not ${process.argv[servicesArg + 1]}`);
const NODES = servicesArg > 0 ? Math.max(10, Math.round(SERVICES / 1000)) : quick ? 10 : 50;
const PER_NODE = Math.round(SERVICES / NODES);
const LOOKUPS = quick ? 500 : 5_000;
const LISTS = quick ? 3 : 10;

function forked<T>(script: string, env: NodeJS.ProcessEnv, first: (m: unknown) => T | undefined): Promise<{ child: ChildProcess; value: T }> {
  const child = fork(fileURLToPath(new URL(script, import.meta.url)), [], { env: { ...process.env, ...env }, execArgv: [...process.execArgv, '--expose-gc'] });
  return new Promise((resolve, reject) => {
    const onMessage = (m: unknown): void => {
      const value = first(m);
      if (value === undefined) return;
      child.off('message', onMessage);
      resolve({ child, value });
    };
    child.on('message', onMessage);
    child.once('exit', (code) => reject(new Error(`${script} exited (${code}) before it was ready`)));
  });
}

function message(child: ChildProcess, wanted: (m: unknown) => boolean): Promise<unknown> {
  return new Promise((resolve) => {
    const on = (m: unknown): void => {
      if (!wanted(m)) return;
      child.off('message', on);
      resolve(m);
    };
    child.on('message', on);
  });
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

const round = (x: number, digits = 1): number => Number(x.toFixed(digits));

const { child: directoryProcess, value: endpoint } = await forked('./directory-node.ts', {}, (m) => (m as { endpoint?: string }).endpoint);
const memoryOf = async (): Promise<{ rss: number; heap: number }> => {
  const reply = message(directoryProcess, (m) => typeof (m as { rss?: number }).rss === 'number');
  directoryProcess.send('memory');
  return (await reply) as { rss: number; heap: number };
};
const emptyDirectory = await memoryOf();
const env = { QIACT_DIRECTORY: endpoint, QIACT_MACHINE_ID: 'scale-victim', COUNT: String(PER_NODE), PREFIX: 'victim' };
const { child: victim } = await forked('./scale-node.ts', env, (m) => (m === 'started' ? true : undefined));

const nodes: Node[] = [];
for (let n = 1; n < NODES; n++) nodes.push(await start({ machineId: `scale-${n}`, directory: endpoint, onWarning: () => {} }));
const client = await start({ machineId: 'scale-client', directory: endpoint, onWarning: () => {} });
const directory = await client.service<ServiceDirectory>(DIRECTORY_NAME);

// Registration: every node registers its services at once.
const t0 = performance.now();
victim.send('go');
const victimDone = message(victim, (m) => m === 'registered');
await Promise.all(
  nodes.map(async (node, n) => {
    for (let i = 0; i < PER_NODE; i++) await node.spawn(Sink, { name: `s${n + 1}-${i}` });
  }),
);
await victimDone;
const registerSeconds = (performance.now() - t0) / 1000;
const total = NODES * PER_NODE;

// Look-ups by name, one at a time, of names spread over every node.
const lookups: number[] = [];
for (let i = 0; i < LOOKUPS; i++) {
  const n = 1 + (i % (NODES - 1));
  const name = `s${n}-${(i * 7919) % PER_NODE}`;
  const s = performance.now();
  await directory.lookup(name);
  lookups.push((performance.now() - s) * 1000);
}
lookups.sort((a, b) => a - b);

// ls: the whole list.
const lists: number[] = [];
let listed = 0;
for (let i = 0; i < LISTS; i++) {
  const s = performance.now();
  listed = (await directory.list()).length;
  lists.push(performance.now() - s);
}
lists.sort((a, b) => a - b);
const { rss, heap } = await memoryOf();
const bytesPerEntry = (heap - emptyDirectory.heap) / listed;

// Purge: kill -9 one node; time until the directory has announced the removal of all its services.
let removed = 0;
let purged!: () => void;
const allRemoved = new Promise<void>((resolve) => (purged = resolve));
await directory.serviceRemoved.connect((e) => {
  if (e.name.startsWith('victim-') && ++removed === PER_NODE) purged();
});
const k0 = performance.now();
victim.kill('SIGKILL');
await allRemoved;
const purgeMs = performance.now() - k0;

const rows = [
  { measure: 'registration', value: round(total / registerSeconds, 0), unit: 'services/s', detail: `${total} services from ${NODES} nodes in ${round(registerSeconds, 2)} s` },
  { measure: 'look-up p50', value: round(pct(lookups, 0.5)), unit: 'µs', detail: `p99 ${round(pct(lookups, 0.99))} µs over ${LOOKUPS} look-ups, ${listed} services held` },
  { measure: 'ls (list all)', value: round(pct(lists, 0.5)), unit: 'ms', detail: `${listed} entries, p50 of ${LISTS}` },
  { measure: 'purge a dead node', value: round(purgeMs), unit: 'ms', detail: `kill -9 to serviceRemoved for its ${PER_NODE} services` },
  { measure: 'directory memory', value: round(rss / 2 ** 20), unit: 'MiB', detail: `resident, holding ${listed} services` },
  { measure: 'directory entry', value: round(bytesPerEntry, 0), unit: 'bytes', detail: `heap per service held (after GC), ${listed} services` },
];
if (json) for (const row of rows) console.log(JSON.stringify(row));
else {
  console.log(machineState());
  console.log(`qiact directory scale: ${NODES} nodes x ${PER_NODE} services, directory in its own process (node ${process.version})`);
  console.table(rows);
}

await client.stop();
await Promise.all(nodes.map((n) => n.stop()));
directoryProcess.send('stop');
