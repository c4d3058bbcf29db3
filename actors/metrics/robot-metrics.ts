import type { Node } from '../../src/node.js';
import type { NodeMetrics } from '../../src/observe/metrics.js';
import { Service, type ServiceClass } from '../../src/service.js';
import type { Signal } from '../../src/signal.js';

/** The name a robot gives its RobotMetrics service (what `qiact top --gateway` looks for). */
export const ROBOT_METRICS_NAME = 'RobotMetrics';

/** What RobotMetrics offers: a sample of every node now, and a sample every interval while watched. */
export interface RobotMetricsService extends Service {
  sample(): Promise<NodeMetrics[]>;
  readonly samples: Signal<NodeMetrics[]>;
}

/**
 * The robot's metrics as a service, so that clients outside the robot can see them through a
 * door (the Gateway, the XMPP link) under its permissions: `sample()` is a call, `samples` a
 * signal that any identity allowed to watch it (read-only ones too) receives every `interval` ms.
 * Samples are taken only while someone watches. Made for the node it runs in (a service cannot
 * reach other nodes' actor 0 by itself): `node.spawn(robotMetrics(node), { name: ROBOT_METRICS_NAME })`.
 */
export function robotMetrics(node: Node, options: { interval?: number } = {}): ServiceClass<RobotMetricsService> {
  const interval = options.interval ?? 1000;
  return class RobotMetrics extends Service implements RobotMetricsService {
    readonly samples = this.signal<NodeMetrics[]>();
    #sampling = false;

    override onStart(): void {
      const timer = setInterval(() => void this.#tick(), interval);
      timer.unref();
      // However this run ends: a crash or a kill runs no onStop, and a restart starts a timer of its own.
      this.context.onExit(() => clearInterval(timer));
    }

    sample(): Promise<NodeMetrics[]> {
      return node.robotMetrics();
    }

    async #tick(): Promise<void> {
      // One sample at a time, and none while nobody watches.
      if (this.#sampling || this.samples.subscriberCount === 0) return;
      this.#sampling = true;
      try {
        this.samples.emit(await node.robotMetrics());
      } catch (error) {
        this.context.warn('a robot metrics sample failed', error);
      } finally {
        this.#sampling = false;
      }
    }
  };
}
