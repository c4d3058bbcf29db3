/**
 * One line on the machine a bench ran on, printed above its rows: figures move several times
 * over with load on a 2-core VM, so a reader needs to know how busy it was (and when).
 */
import { cpus, loadavg, totalmem } from 'node:os';

export function machineState(): string {
  const [one, five] = loadavg().map((l) => l.toFixed(2));
  return `machine: ${cpus().length} cores (${cpus()[0]?.model.trim() ?? '?'}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB, load average ${one} (1 min) ${five} (5 min), node ${process.version}, ${new Date().toISOString()}`;
}
