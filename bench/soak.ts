/**
 * `npm run bench:soak`: a robot under mixed load for a long time, with faults injected, watched
 * for leaks. Calls go on every path at once (in-thread, a worker, a child process, another
 * machine over TCP, a client through the Gateway), a few in flight on each, while every 10 s
 * (3 s with --quick) one fault comes in turn: a service crashes, the child process of a placed
 * service is killed (-9), the other machine is killed and started again (its TCP link and the
 * gateway client's session reconnect). The process's RSS, heap, active handles and open file
 * descriptors are sampled; the report is their slope over the run (after the first fifth, the
 * warm-up) and the calls that never settled, which must be none: every call ends with a value or
 * a typed error. 30 minutes by default, 1 with --quick, or --minutes N. Not in CI. Asserts nothing.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, hashToken, start, type GatewayOptions, type Remote } from '../dist/src/index.js';
import { makeCerts } from '../test/_support/certs.js';
import { machineRow, machineState } from './machine-state.js';
import { Echo, MODULE } from './services.js';

const json = process.argv.includes('--json');
const quick = process.argv.includes('--quick');
const minutesArg = process.argv.indexOf('--minutes');
const MINUTES = minutesArg > 0 ? Number(process.argv[minutesArg + 1]) : quick ? 1 : 30;
if (!(MINUTES > 0)) throw new Error(`--minutes takes a positive number, not ${process.argv[minutesArg + 1]}`);
const FAULT_EVERY_MS = quick ? 3_000 : 10_000;
const SAMPLE_EVERY_MS = quick ? 1_000 : 5_000;
const IN_FLIGHT = 4;
const CALL_TIMEOUT_MS = 2_000;

const freePort = (): Promise<number> =>
  new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });

const certs = makeCerts();
const node = await start({ machineId: 'soak', listen: ['tcp:127.0.0.1:0'], onWarning: () => {} });
await node.spawn(Echo, { name: 'echo' });
await node.spawn(Echo, { name: 'echo-worker', in: 'worker', module: MODULE });
await node.spawn(Echo, { name: 'echo-process', in: 'process', module: MODULE });

// "Another machine", with a Gateway on a fixed port so that its client can find it again.
const gatewayPort = await freePort();
const gatewayOptions: GatewayOptions = {
  listen: `tls://127.0.0.1:${gatewayPort}`,
  cert: certs.server.cert,
  key: certs.server.key,
  tokens: { soak: hashToken('soak-token') },
  permissions: { soak: { allow: ['echo-tcp.*'] } },
  limits: { messagesPerSecond: 1e9 },
};
const gatewayFile = join(certs.dir, 'soak-gateway-options');
writeFileSync(gatewayFile, JSON.stringify(gatewayOptions));
const tcp = node.endpoints.find((e) => e.startsWith('tcp:'))!;
const otherMachine = async (): Promise<ChildProcess> => {
  const env = { ...process.env, QIACT_MACHINE_ID: 'soak-other-machine', QIACT_DIRECTORY: tcp, QIACT_LISTEN: 'tcp:127.0.0.1:0', BENCH_GATEWAY: gatewayFile };
  const child = fork(fileURLToPath(new URL('./remote-node.ts', import.meta.url)), [], { env });
  await new Promise((resolve) => child.once('message', resolve));
  return child;
};
let other = await otherMachine();
const session = await connect(`tls://127.0.0.1:${gatewayPort}`, { token: 'soak-token', ca: certs.ca, servername: 'localhost', callTimeout: CALL_TIMEOUT_MS, onWarning: () => {} });

const each = { timeout: CALL_TIMEOUT_MS };
const handles: Record<string, Remote<Echo>> = {
  direct: await node.service<Echo>('echo', each),
  port: await node.service<Echo>('echo-worker', each),
  unix: await node.service<Echo>('echo-process', each),
  tcp: await node.service<Echo>('echo-tcp', each),
  gateway: await session.service<Echo>('echo-tcp', each),
};

// The load: IN_FLIGHT calls outstanding on each path until the end.
let running = true;
let started = 0;
let ok = 0;
let failed = 0;
const loops = Object.values(handles).flatMap((echo) =>
  Array.from({ length: IN_FLIGHT }, async () => {
    for (let n = 1; running; n++) {
      // An in-thread call settles within microtasks: yield now and then, or timers never run.
      if (n % 64 === 0) await new Promise((resolve) => setImmediate(resolve));
      started++;
      try {
        await echo.echo(started);
        ok++;
      } catch {
        failed++;
        // A path down for a moment: do not spin on it.
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  }),
);

// The faults, in turn.
const faults = { crashes: 0, processKills: 0, machineRestarts: 0 };
let turn = 0;
const faulting = setInterval(() => {
  void (async () => {
    try {
      switch (turn++ % 3) {
        case 0:
          await handles.direct!.crash().catch(() => {});
          faults.crashes++;
          break;
        case 1:
          process.kill(await handles.unix!.pid(), 'SIGKILL');
          faults.processKills++;
          break;
        case 2:
          other.kill('SIGKILL');
          other = await otherMachine();
          faults.machineRestarts++;
          break;
      }
    } catch {
      // A fault that could not be injected this time (its target was down already): next turn.
    }
  })();
}, FAULT_EVERY_MS);

// The samples.
interface Sample {
  minute: number;
  rss: number;
  heap: number;
  handles: number;
  fds: number;
}
const samples: Sample[] = [];
const t0 = performance.now();
const sample = (): void => {
  const { rss, heapUsed } = process.memoryUsage();
  samples.push({ minute: (performance.now() - t0) / 60_000, rss, heap: heapUsed, handles: process.getActiveResourcesInfo().length, fds: readdirSync('/proc/self/fd').length });
};
sample();
const sampling = setInterval(sample, SAMPLE_EVERY_MS);
await new Promise((resolve) => setTimeout(resolve, MINUTES * 60_000));
clearInterval(sampling);
clearInterval(faulting);
sample();

// Stop the load; every call must settle within its timeout (plus a grace for the last fault).
running = false;
const settled = await Promise.race([Promise.all(loops).then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), CALL_TIMEOUT_MS * 3))]);
const unsettled = started - ok - failed;

/** Least-squares slope of `y` per minute, over the samples after the warm-up. */
const slope = (y: (s: Sample) => number): number => {
  const xs = samples.filter((s) => s.minute >= MINUTES / 5);
  const n = xs.length;
  const mx = xs.reduce((a, s) => a + s.minute, 0) / n;
  const my = xs.reduce((a, s) => a + y(s), 0) / n;
  const num = xs.reduce((a, s) => a + (s.minute - mx) * (y(s) - my), 0);
  const den = xs.reduce((a, s) => a + (s.minute - mx) ** 2, 0);
  return den === 0 ? 0 : num / den;
};
const row = {
  measure: 'soak',
  minutes: MINUTES,
  calls: started,
  failed,
  unsettled,
  all_settled: settled,
  ...faults,
  rss_slope_kib_per_min: Math.round(slope((s) => s.rss) / 1024),
  heap_slope_kib_per_min: Math.round(slope((s) => s.heap) / 1024),
  handles_slope_per_min: Number(slope((s) => s.handles).toFixed(2)),
  fds_slope_per_min: Number(slope((s) => s.fds).toFixed(2)),
  rss_mib_end: Math.round(samples.at(-1)!.rss / 2 ** 20),
};
if (json) {
  console.log(JSON.stringify(machineRow()));
  console.log(JSON.stringify(row));
} else {
  console.log(machineState());
  console.log(`qiact soak: ${MINUTES} min of calls on direct, port, unix, tcp and gateway paths with faults every ${FAULT_EVERY_MS / 1000} s (node ${process.version})`);
  console.table([row]);
}
await session.close();
other.kill('SIGKILL');
await node.stop();
process.exit(0);
