import { metrics, type Attributes, type BatchObservableResult, type Meter, type Observable, type ObservableCounter, type ObservableGauge } from '@opentelemetry/api';
import { quantile } from './histogram.js';
import { INSTRUMENTATION_NAME } from './scope.js';
import type { NodeMetrics } from './metrics.js';

/** Series of unnamed actors are summed into one per node under this service name (they may be many). */
export const UNNAMED = '(unnamed)';

/**
 * A node's metrics as OpenTelemetry instruments. They are observable: the SDK's reader asks
 * (a Prometheus scrape, an OTLP export interval) and one sample of the node answers every
 * instrument. With no SDK registered the API's meter is a no-op that never asks: nothing runs.
 *
 * Named services get a series each (`qiact.service`); unnamed actors (supervisors, actors a
 * program spawns by the thousand) are summed per node, so the number of series stays that of
 * the services.
 */
export class OtelMetrics {
  readonly #meter: Meter;
  readonly #instruments: Observable[];
  readonly #callback: (result: BatchObservableResult) => void;

  constructor(private readonly sample: () => NodeMetrics) {
    // The meter provider registered now: OpenTelemetry's metrics API has no proxy, so an SDK is
    // registered before the node starts.
    const meter = (this.#meter = metrics.getMeter(INSTRUMENTATION_NAME));
    const gauge = (name: string, description: string, unit?: string): ObservableGauge => meter.createObservableGauge(name, { description, ...(unit ? { unit } : {}) });
    const counter = (name: string, description: string, unit?: string): ObservableCounter => meter.createObservableCounter(name, { description, ...(unit ? { unit } : {}) });
    const i = {
      mailbox: gauge('qiact.actor.mailbox.depth', 'messages waiting in the mailbox', '{message}'),
      mailboxPeak: gauge('qiact.actor.mailbox.peak', 'the most messages the mailbox held at once', '{message}'),
      handled: counter('qiact.actor.messages', 'calls and posts handled', '{message}'),
      failures: counter('qiact.actor.failures', 'calls and posts that failed, by error.type (the qiact error code)', '{message}'),
      dropped: counter('qiact.actor.dropped', 'messages refused or dropped because the mailbox was full', '{message}'),
      restarts: gauge('qiact.actor.restarts', 'times the supervisor restarted the service before its current run', '{restart}'),
      handlingP50: gauge('qiact.actor.handling.p50', 'handling time of one message, median of the sampled ones (one in 64)', 'us'),
      handlingP99: gauge('qiact.actor.handling.p99', 'handling time of one message, 99th percentile of the sampled ones (one in 64)', 'us'),
      linkMessages: counter('qiact.link.messages', 'messages through a link to another node, by direction', '{message}'),
      linkBytes: counter('qiact.link.bytes', 'encoded bytes through a link to another node, by direction', 'By'),
      writeBuffer: gauge('qiact.link.write_buffer', 'bytes written to a link and not yet taken by the kernel', 'By'),
      reconnects: gauge('qiact.link.reconnects', 'links made again to the same node after the first', '{reconnect}'),
      actors: gauge('qiact.node.actors', 'actors running in the node', '{actor}'),
      loopDelay: gauge('qiact.node.event_loop.delay.p99', "99th percentile of the thread's event-loop delay", 'ms'),
      loopUtilization: gauge('qiact.node.event_loop.utilization', "share of time the thread's event loop was busy since the previous sample", '1'),
      heap: gauge('qiact.node.memory.heap_used', "bytes used in the thread's heap", 'By'),
      rss: gauge('qiact.node.memory.rss', "the process's resident memory", 'By'),
    };
    this.#instruments = Object.values(i);
    this.#callback = (result) => {
      const m = this.sample();
      const nodeAttrs = { 'qiact.node': m.node };
      result.observe(i.actors, m.actorCount, nodeAttrs);
      result.observe(i.loopDelay, m.eventLoop.delayP99Ms, nodeAttrs);
      result.observe(i.loopUtilization, m.eventLoop.utilization, nodeAttrs);
      result.observe(i.heap, m.memory.heapUsed, nodeAttrs);
      result.observe(i.rss, m.memory.rss, nodeAttrs);
      const unnamed = { mailbox: 0, mailboxPeak: 0, handled: 0, dropped: 0 };
      const failures = new Map<string, Map<string, number>>();
      for (const a of m.actors) {
        if (a.name === null) {
          unnamed.mailbox += a.mailbox;
          unnamed.mailboxPeak = Math.max(unnamed.mailboxPeak, a.mailboxPeak);
          unnamed.handled += a.handled;
          unnamed.dropped += a.dropped;
        } else {
          const attrs: Attributes = { 'qiact.node': m.node, 'qiact.service': a.name };
          result.observe(i.mailbox, a.mailbox, attrs);
          result.observe(i.mailboxPeak, a.mailboxPeak, attrs);
          result.observe(i.handled, a.handled, attrs);
          result.observe(i.dropped, a.dropped, attrs);
          result.observe(i.restarts, a.restarts, attrs);
          const p50 = quantile(a.handlingUs, 0.5);
          const p99 = quantile(a.handlingUs, 0.99);
          if (p50 !== null && Number.isFinite(p50)) result.observe(i.handlingP50, p50, attrs);
          if (p99 !== null && Number.isFinite(p99)) result.observe(i.handlingP99, p99, attrs);
        }
        const service = a.name ?? UNNAMED;
        for (const [code, n] of Object.entries(a.failures)) {
          const byCode = failures.get(service) ?? new Map<string, number>();
          byCode.set(code, (byCode.get(code) ?? 0) + n);
          failures.set(service, byCode);
        }
      }
      // The actors the sample does not list (past MAX_LISTED_ACTORS) count with the unnamed ones.
      unnamed.mailbox += m.unlisted.mailbox;
      unnamed.handled += m.unlisted.handled;
      unnamed.dropped += m.unlisted.dropped;
      for (const [code, n] of Object.entries(m.unlisted.failures)) {
        const byCode = failures.get(UNNAMED) ?? new Map<string, number>();
        byCode.set(code, (byCode.get(code) ?? 0) + n);
        failures.set(UNNAMED, byCode);
      }
      const unnamedAttrs = { 'qiact.node': m.node, 'qiact.service': UNNAMED };
      result.observe(i.mailbox, unnamed.mailbox, unnamedAttrs);
      result.observe(i.mailboxPeak, unnamed.mailboxPeak, unnamedAttrs);
      result.observe(i.handled, unnamed.handled, unnamedAttrs);
      result.observe(i.dropped, unnamed.dropped, unnamedAttrs);
      for (const [service, byCode] of failures) {
        for (const [code, n] of byCode) result.observe(i.failures, n, { 'qiact.node': m.node, 'qiact.service': service, 'error.type': code });
      }
      for (const l of m.links) {
        const attrs = { 'qiact.node': m.node, 'qiact.peer': l.node, 'qiact.path': l.path };
        result.observe(i.linkMessages, l.messagesIn, { ...attrs, 'network.io.direction': 'receive' });
        result.observe(i.linkMessages, l.messagesOut, { ...attrs, 'network.io.direction': 'transmit' });
        result.observe(i.linkBytes, l.bytesIn, { ...attrs, 'network.io.direction': 'receive' });
        result.observe(i.linkBytes, l.bytesOut, { ...attrs, 'network.io.direction': 'transmit' });
        result.observe(i.writeBuffer, l.writeBuffer, attrs);
        result.observe(i.reconnects, l.reconnects, attrs);
      }
    };
    meter.addBatchObservableCallback(this.#callback, this.#instruments);
  }

  /** The node stopped: its series are no longer reported. */
  close(): void {
    this.#meter.removeBatchObservableCallback(this.#callback, this.#instruments);
  }
}
