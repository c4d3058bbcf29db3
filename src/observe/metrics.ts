import { monitorEventLoopDelay, performance, type EventLoopUtilization, type IntervalHistogram } from 'node:perf_hooks';
import type { Actor } from '../actor.js';
import type { Path } from '../address.js';
import type { Peer } from '../routing/peer.js';
import type { HistogramData } from './histogram.js';
import { receiveBuffers } from '../transport/receive-buffers.js';

/** One actor, as `node.metrics()` reports it. */
export interface ActorMetrics {
  readonly address: string;
  /** Its service name (a supervisor: its id), or null for an unnamed actor. */
  readonly name: string | null;
  /** What it runs: the class or machine name, `supervisor(strategy)`, or where a placed child lives. */
  readonly label: string;
  /** `thread`, or `worker` / `process` for the stand-in of a service placed there (its own metrics are its node's). */
  readonly in: 'thread' | 'worker' | 'process';
  readonly status: string;
  /** Messages waiting now, and the most it ever held. */
  readonly mailbox: number;
  readonly mailboxPeak: number;
  readonly mailboxCapacity: number;
  /** Messages refused or dropped because the mailbox was full. */
  readonly dropped: number;
  /** Calls and posts handled. */
  readonly handled: number;
  /** Calls and posts that failed here, by error code (MAILBOX_FULL, SERVICE_ERROR, …). */
  readonly failures: Readonly<Record<string, number>>;
  /** Times its supervisor restarted it before this run. */
  readonly restarts: number;
  /** Handling time of one message in 64, in µs. */
  readonly handlingUs: HistogramData;
}

/** One link to another node, as `node.metrics()` reports it. */
export interface LinkMetrics {
  /** The other node, `machineId/processId/threadId`. */
  readonly node: string;
  readonly path: Path;
  /** Up (handshake done), or still being made. */
  readonly up: boolean;
  readonly messagesIn: number;
  readonly messagesOut: number;
  /** Encoded bytes, frame headers included (0 over a MessagePort: structured clone). */
  readonly bytesIn: number;
  readonly bytesOut: number;
  /** Bytes written but not yet taken by the kernel. */
  readonly writeBuffer: number;
  /** Calls sent on it still waiting for their reply. */
  readonly waiting: number;
  /** Times a link to that node was made again after the first. */
  readonly reconnects: number;
}

/** The actors of a node that a sample does not list one by one, summed. */
export interface UnlistedActors {
  readonly actors: number;
  readonly mailbox: number;
  readonly handled: number;
  readonly dropped: number;
  /** Calls and posts that failed in them, by error code. */
  readonly failures: Readonly<Record<string, number>>;
}

/**
 * The most actors one sample lists one by one. A node may hold a million: listing them all
 * would build and send hundreds of MB a second to whoever watches (a read-only identity
 * could stall the robot by asking), so past this the sample lists those worth a row and sums
 * the rest.
 */
export const MAX_LISTED_ACTORS = 1000;

/** A sample of one node: what runs in it, its links, and its thread and process. */
export interface NodeMetrics {
  /** `machineId/processId/threadId`. */
  readonly node: string;
  /** When the sample was taken (ms since the epoch). */
  readonly at: number;
  /** Every actor running in the node. */
  readonly actorCount: number;
  /**
   * Every actor when there are at most MAX_LISTED_ACTORS; else, up to that many of those worth
   * a row (those with a name, see ActorMetrics.name; stand-ins of placed services; any with
   * messages waiting, dropped or failed, or restarted), in start order.
   */
  readonly actors: readonly ActorMetrics[];
  /** The actors not in `actors`, summed (all zero when every actor is listed). */
  readonly unlisted: UnlistedActors;
  readonly links: readonly LinkMetrics[];
  /** Event-loop delay of this thread in ms since the first sample (p50, p99, max), and its utilisation since the previous sample (0..1). */
  readonly eventLoop: { readonly delayP50Ms: number; readonly delayP99Ms: number; readonly delayMaxMs: number; readonly utilization: number };
  /**
   * Memory of this thread's heap and of the whole process, in bytes; and the memory this thread
   * keeps to receive large payloads into (see Service.borrowing and release()), let go after 5 s
   * without them.
   */
  readonly memory: { readonly heapUsed: number; readonly heapTotal: number; readonly rss: number; readonly receiveBuffers: number };
}

/** What the sampler reads from its node. */
export interface MetricsSource {
  readonly nodeKey: string;
  actors(): Iterable<Actor>;
  readonly actorCount: number;
  /** `thread`, or where the service this actor stands in for runs. */
  placementOf(actor: Actor): 'thread' | 'worker' | 'process';
  /** A service name, a supervisor's id, or null for an unnamed actor (see ActorMetrics.name). */
  metricsNameOf(actor: Actor): string | null;
  readonly openLinks: ReadonlySet<Peer>;
  reconnectsTo(key: string): number;
}

const EMPTY_HISTOGRAM: HistogramData = { count: 0, sum: 0, buckets: [] };
/** One event-loop delay monitor per thread, started by the first sample taken in it. */
let loopDelay: IntervalHistogram | null = null;

/**
 * Takes samples of one node. Counters are kept on the hot path as plain fields (an increment
 * per message, two clock reads per 64th); this only reads them, when asked.
 */
export class MetricsSampler {
  #lastUtilization: EventLoopUtilization | undefined;

  constructor(private readonly source: MetricsSource) {}

  sample(): NodeMetrics {
    if (loopDelay === null) {
      loopDelay = monitorEventLoopDelay({ resolution: 10 });
      loopDelay.enable();
    }
    const now = performance.eventLoopUtilization();
    const utilization = this.#lastUtilization === undefined ? now.utilization : performance.eventLoopUtilization(now, this.#lastUtilization).utilization;
    this.#lastUtilization = now;
    const memory = process.memoryUsage();
    const ns = (v: number): number => (Number.isFinite(v) ? v / 1e6 : 0);
    return {
      node: this.source.nodeKey,
      at: Date.now(),
      ...this.#actors(),
      links: [...this.source.openLinks].map((peer) => this.#link(peer)),
      eventLoop: { delayP50Ms: ns(loopDelay.percentile(50)), delayP99Ms: ns(loopDelay.percentile(99)), delayMaxMs: ns(loopDelay.max), utilization },
      memory: { heapUsed: memory.heapUsed, heapTotal: memory.heapTotal, rss: memory.rss, receiveBuffers: receiveBuffers.keptBytes },
    };
  }

  #actors(): { actorCount: number; actors: ActorMetrics[]; unlisted: UnlistedActors } {
    const all = this.source.actorCount;
    const listAll = all <= MAX_LISTED_ACTORS;
    const actors: ActorMetrics[] = [];
    const unlisted = { actors: 0, mailbox: 0, handled: 0, dropped: 0, failures: {} as Record<string, number> };
    for (const actor of this.source.actors()) {
      if (actors.length < MAX_LISTED_ACTORS && (listAll || this.#worthARow(actor))) {
        actors.push(this.#actor(actor));
        continue;
      }
      unlisted.actors++;
      unlisted.mailbox += actor.mailbox.length;
      unlisted.handled += actor.handled;
      unlisted.dropped += actor.mailbox.dropped;
      if (actor.failures !== null) for (const [code, n] of actor.failures) unlisted.failures[code] = (unlisted.failures[code] ?? 0) + n;
    }
    return { actorCount: all, actors, unlisted };
  }

  #worthARow(actor: Actor): boolean {
    return this.source.metricsNameOf(actor) !== null || actor.mailbox.length > 0 || actor.mailbox.dropped > 0 || actor.failures !== null || actor.restarts > 0 || this.source.placementOf(actor) !== 'thread';
  }

  #actor(actor: Actor): ActorMetrics {
    const mailbox = actor.mailbox;
    return {
      address: actor.address.text,
      name: this.source.metricsNameOf(actor),
      label: actor.runs || actor.label,
      in: this.source.placementOf(actor),
      status: actor.status,
      mailbox: mailbox.length,
      mailboxPeak: mailbox.peak,
      mailboxCapacity: mailbox.capacity,
      dropped: mailbox.dropped,
      handled: actor.handled,
      failures: actor.failures === null ? {} : Object.fromEntries(actor.failures),
      restarts: actor.restarts,
      handlingUs: actor.timing?.data() ?? EMPTY_HISTOGRAM,
    };
  }

  #link(peer: Peer): LinkMetrics {
    const link = peer.carrier;
    const traffic = link?.traffic;
    return {
      node: peer.key,
      path: peer.path,
      up: peer.up,
      messagesIn: traffic?.messagesIn ?? 0,
      messagesOut: traffic?.messagesOut ?? 0,
      bytesIn: traffic?.bytesIn ?? 0,
      bytesOut: traffic?.bytesOut ?? 0,
      writeBuffer: link?.writeBuffer ?? 0,
      waiting: peer.waiting,
      reconnects: this.source.reconnectsTo(peer.key),
    };
  }
}
