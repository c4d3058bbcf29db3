/**
 * One row of the actor scale bench, in a process of its own (a fresh heap, run with
 * --expose-gc): COUNT idle service actors spawned under dynamic supervisors, called at random
 * while they exist (named ones by name, unnamed ones by address: `node.serviceAt`), then
 * stopped. Prints one JSON row.
 *
 * It uses the built runtime (dist/, `npm run build`), as a robot runs it: under tsx every named
 * closure gets a defineProperty call (esbuild's keepNames), which doubled the heap of an idle
 * actor and halved the spawn rate measured here.
 */
import { Service, start, supervisor, type SupervisorRef } from '../dist/src/index.js';

const COUNT = Number(process.env.COUNT);
const NAMED = process.env.NAMED === '1';
/** One dynamic supervisor per this many children. */
const PER_SUPERVISOR = 100_000;
/** startChild requests in flight per supervisor. */
const WINDOW = 64;
const CALLS = 10_000;
const CALLED_ACTORS = 1_000;

class Idle extends Service {
  hits = 0;
  hit(): number {
    return ++this.hits;
  }
}

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with --expose-gc');
const settle = (): number => {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
};

const node = await start({ machineId: 'scale', directoryCapacity: COUNT + 100, onWarning: () => {} });
const supervisors: SupervisorRef[] = [];
for (let s = 0; s < Math.ceil(COUNT / PER_SUPERVISOR); s++) supervisors.push(await node.supervise(supervisor({ strategy: 'dynamic' }), { id: `idle-${s}` }));
const before = settle();

// The actors to call later, picked at random before they exist (their addresses are kept, not all of them).
const picked = new Map<number, string>();
while (picked.size < Math.min(CALLED_ACTORS, COUNT)) picked.set(Math.floor(Math.random() * COUNT), '');
const t0 = performance.now();
let next = 0;
await Promise.all(
  supervisors.flatMap((sup) =>
    Array.from({ length: WINDOW }, async () => {
      for (;;) {
        const i = next++;
        if (i >= COUNT) return;
        const started = await sup.startChild(NAMED ? { start: Idle, name: `idle-${i}` } : { start: Idle });
        if (picked.has(i)) picked.set(i, started!.address);
      }
    }),
  ),
);
const spawnSeconds = (performance.now() - t0) / 1000;
const full = settle();
const bytes = (full - before) / COUNT;

// Calls to actors picked at random among all of them: by name through the directory, or by address.
let callP50: number | null = null;
{
  const handles = [];
  for (const [i, address] of picked) handles.push(NAMED ? await node.service<Idle>(`idle-${i}`) : await node.serviceAt<Idle>(address));
  const times: number[] = [];
  for (let c = 0; c < CALLS; c++) {
    const h = handles[Math.floor(Math.random() * handles.length)]!;
    const s = performance.now();
    await h.hit();
    times.push((performance.now() - s) * 1000);
  }
  times.sort((a, b) => a - b);
  callP50 = Number(times[times.length >> 1]!.toFixed(2));
}

const s0 = performance.now();
await Promise.all(supervisors.map((sup) => sup.stop()));
const stopMs = performance.now() - s0;
await node.stop();
console.log(
  JSON.stringify({
    measure: 'actors',
    count: COUNT,
    names: NAMED,
    spawn_per_s: Math.round(COUNT / spawnSeconds),
    bytes_per_actor: Math.round(bytes),
    call_p50_us: callP50,
    stop_ms: Math.round(stopMs),
    heap_mib: Math.round(full / 2 ** 20),
  }),
);
