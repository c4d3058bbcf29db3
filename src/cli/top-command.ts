import type { ActorMetrics, NodeMetrics } from '../observe/metrics.js';
import { quantile } from '../observe/histogram.js';
import { columns } from './format.js';
import { openRobot, type GatewayCliOptions } from './robot.js';
import { untilInterrupted, UsageError, type RobotOptions } from './session.js';

type Print = (line: string) => void;

export interface TopOptions extends RobotOptions, GatewayCliOptions {
  /** `mailbox` (default) or `rate`. */
  sort?: string;
  /** Rows of actors shown; default 25. */
  limit?: string;
  /** Ms between samples from inside; default 1000. */
  interval?: string;
  /** Stop after this many samples (for scripts); default: until Ctrl-C. */
  count?: string;
}

/** An actor in a sample, with its message rate since the previous sample (null in the first). */
export type TopActor = ActorMetrics & { readonly node: string; readonly rate: number | null };

function positive(text: string | undefined, what: string, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${what} must be a whole number >= 1, not '${text}'`);
  return n;
}

/**
 * `qiact top`: the robot's nodes, then its actors sorted by mailbox depth or message rate, with
 * their failures and restarts, refreshed every second (as `top` does for processes). `--json`
 * prints each sample as one line instead: `{ at, nodes, actors }`, each actor with its `rate`.
 */
export async function top(options: TopOptions, print: Print, warn: Print): Promise<number> {
  const sort = options.sort ?? 'mailbox';
  if (sort !== 'mailbox' && sort !== 'rate') throw new UsageError(`--sort must be 'mailbox' or 'rate', not '${sort}'`);
  const limit = positive(options.limit, 'limit', 25);
  const interval = positive(options.interval, 'interval', 1000);
  const count = options.count === undefined ? Infinity : positive(options.count, 'count', 1);
  const robot = await openRobot(options, warn);
  try {
    const previous = new Map<string, { handled: number; at: number }>();
    let seen = 0;
    let done!: (code: number) => void;
    const finished = new Promise<number>((resolve) => (done = resolve));
    const watch = await robot.watchMetrics(
      interval,
      (sample) => {
        if (seen >= count) return;
        seen++;
        const actors = withRates(sample, previous);
        if (options.json) print(JSON.stringify({ at: new Date().toISOString(), nodes: sample.map(({ actors: _, ...node }) => node), actors }));
        else for (const line of frame(sample, actors, sort, limit, process.stdout.isTTY === true)) print(line);
        if (seen >= count) done(0);
      },
      (error) => warn(`qiact: a sample failed: ${(error as Error).message}`),
    );
    const code = await Promise.race([finished, untilInterrupted(warn).then(() => 0)]);
    watch.off();
    return code;
  } finally {
    await robot.close();
  }
}

/** Every actor of a sample with its message rate since the previous one (by address). */
function withRates(sample: readonly NodeMetrics[], previous: Map<string, { handled: number; at: number }>): TopActor[] {
  const actors: TopActor[] = [];
  const now = new Map<string, { handled: number; at: number }>();
  for (const node of sample) {
    for (const a of node.actors) {
      const before = previous.get(a.address);
      const rate = before === undefined || node.at <= before.at ? null : Math.round(((a.handled - before.handled) * 1000) / (node.at - before.at));
      actors.push({ ...a, node: node.node, rate });
      now.set(a.address, { handled: a.handled, at: node.at });
    }
  }
  previous.clear();
  for (const [k, v] of now) previous.set(k, v);
  return actors;
}

const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(1);

function frame(sample: readonly NodeMetrics[], actors: TopActor[], sort: string, limit: number, tty: boolean): string[] {
  const lines: string[] = [];
  if (tty) lines.push('\x1b[H\x1b[2J'); // home and clear, as top repaints
  lines.push(`qiact top  ${new Date().toISOString().slice(11, 19)}  ${sample.length} nodes, ${actors.length} actors  (sorted by ${sort}; Ctrl-C to stop)`, '');
  const nodeRows = [['NODE', 'ACTORS', 'LINKS', 'LOOP p99 ms', 'LOOP BUSY', 'HEAP MiB', 'RSS MiB']];
  for (const n of sample) {
    nodeRows.push([n.node, String(n.actorCount), String(n.links.length), n.eventLoop.delayP99Ms.toFixed(1), `${Math.round(n.eventLoop.utilization * 100)}%`, mib(n.memory.heapUsed), mib(n.memory.rss)]);
  }
  lines.push(...columns(nodeRows), '');
  const key = sort === 'rate' ? (a: TopActor) => a.rate ?? -1 : (a: TopActor) => a.mailbox;
  const shown = [...actors].sort((a, b) => key(b) - key(a) || (b.rate ?? 0) - (a.rate ?? 0)).slice(0, limit);
  const rows = [['SERVICE', 'NODE', 'IN', 'MAILBOX', 'PEAK', 'MSG/S', 'HANDLED', 'FAILED', 'RESTARTS', 'p99 µs']];
  for (const a of shown) {
    const failed = Object.values(a.failures).reduce((x, y) => x + y, 0);
    const p99 = quantile(a.handlingUs, 0.99);
    rows.push([a.name ?? a.label, a.node, a.in, `${a.mailbox}/${a.mailboxCapacity}`, String(a.mailboxPeak), a.rate === null ? '-' : String(a.rate), String(a.handled), String(failed), String(a.restarts), p99 === null ? '-' : `≤${p99}`]);
  }
  lines.push(...columns(rows));
  return lines;
}
