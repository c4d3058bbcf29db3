/**
 * One line on the machine a bench ran on, printed above its rows: figures move several times
 * over with load on a 2-core VM, so a reader needs to know how busy it was (and when).
 */
import { cpus, loadavg, totalmem } from 'node:os';

export function machineState(): string {
  const m = machineRow();
  const heap = m.heap_growing_percent === null ? '' : `, QIACT_HEAP_GROWING_PERCENT=${m.heap_growing_percent}`;
  return `machine: ${m.cores} cores (${m.cpu}), ${m.memory_gib} GiB, load average ${m.load_1min} (1 min) ${m.load_5min} (5 min), node ${m.node}${heap}, ${m.at}`;
}

/**
 * The same as a JSON row (`--json`): `{"measure":"machine",…}`. `heap_growing_percent`: the
 * QIACT_HEAP_GROWING_PERCENT the bench's nodes ran with (they read it as they start), else null.
 */
export function machineRow(): {
  measure: 'machine';
  cores: number;
  cpu: string;
  memory_gib: number;
  load_1min: number;
  load_5min: number;
  node: string;
  heap_growing_percent: number | null;
  at: string;
} {
  const [one = 0, five = 0] = loadavg();
  return {
    measure: 'machine',
    cores: cpus().length,
    cpu: cpus()[0]?.model.trim() ?? '?',
    memory_gib: Math.round(totalmem() / 2 ** 30),
    load_1min: Math.round(one * 100) / 100,
    load_5min: Math.round(five * 100) / 100,
    node: process.version,
    heap_growing_percent: process.env.QIACT_HEAP_GROWING_PERCENT ? Number(process.env.QIACT_HEAP_GROWING_PERCENT) : null,
    at: new Date().toISOString(),
  };
}
