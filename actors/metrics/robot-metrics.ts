import type { Node, NodeInfo } from '../../src/node.js';
import type { NodeMetrics } from '../../src/observe/metrics.js';
import { Service, type ServiceClass } from '../../src/service.js';
import type { Signal } from '../../src/signal.js';
import type { TreeNode } from '../../src/supervision/supervisor.js';

/** The name a robot gives its RobotMetrics service (what `qiact top --gateway` looks for). */
export const ROBOT_METRICS_NAME = 'RobotMetrics';

/** How often the trees are sent to watchers when nothing changed. */
const TREES_REFRESH_MS = 5000;

/** One node of the robot and its supervision tree (what `qiact tree` shows). */
export type NodeTree = NodeInfo & { readonly tree: TreeNode };

/**
 * What RobotMetrics offers: a sample of every node now, and a sample every interval while
 * watched; the supervision tree of every node now, and the trees again whenever one changed
 * (a child started, stopped or restarted) or someone began to watch.
 */
export interface RobotMetricsService extends Service {
  sample(): Promise<NodeMetrics[]>;
  readonly samples: Signal<NodeMetrics[]>;
  trees(): Promise<NodeTree[]>;
  readonly treesChanged: Signal<NodeTree[]>;
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
    readonly treesChanged = this.signal<NodeTree[]>();
    #sampling = false;
    /** What the trees were when last sent, and to how many watchers (a new one gets them at once). */
    #lastTrees = '';
    #treeWatchers = 0;
    #treesSentAt = 0;

    override onStart(): void {
      const timer = setInterval(() => void this.#tick(), interval);
      timer.unref();
      // However this run ends: a crash or a kill runs no onStop, and a restart starts a timer of its own.
      this.context.onExit(() => clearInterval(timer));
    }

    sample(): Promise<NodeMetrics[]> {
      return node.robotMetrics();
    }

    async trees(): Promise<NodeTree[]> {
      const nodes = await node.nodes();
      return Promise.all(nodes.map(async (n) => ({ ...n, tree: await node.treeOf(n.node) })));
    }

    async #tick(): Promise<void> {
      // One sample at a time, and none while nobody watches.
      if (this.#sampling) return;
      this.#sampling = true;
      try {
        if (this.samples.subscriberCount > 0) this.samples.emit(await node.robotMetrics());
        await this.#sendTrees();
      } catch (error) {
        this.context.warn('a robot metrics sample failed', error);
      } finally {
        this.#sampling = false;
      }
    }

    async #sendTrees(): Promise<void> {
      const watchers = this.treesChanged.subscriberCount;
      if (watchers === 0) {
        this.#treeWatchers = 0;
        return;
      }
      const trees = await this.trees();
      const text = JSON.stringify(trees);
      const grew = watchers > this.#treeWatchers;
      this.#treeWatchers = watchers;
      // Also every few seconds as they are: a watcher that came as another left is not missed for long.
      if (text === this.#lastTrees && !grew && Date.now() - this.#treesSentAt < TREES_REFRESH_MS) return;
      this.#lastTrees = text;
      this.#treesSentAt = Date.now();
      this.treesChanged.emit(trees);
    }
  };
}
