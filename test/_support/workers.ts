import { DIRECTORY_NAME, Service, type ServiceClass, type Node, type ServiceDirectory, type ServiceEvent } from '../../src/index.js';
import { CHILD_START_MS, deferred, within } from './wait.js';

export interface WorkerHooks {
  /** Runs in onStart: throw to fail the start, return 'ignore' to decline. */
  start?: () => void | 'ignore' | Promise<void | 'ignore'>;
  /** Runs in onStop (after the log line). */
  stop?: () => void | Promise<void>;
}

/** What a test worker offers to callers. */
export interface TestWorker {
  crash(): never;
  quit(): void;
  ping(): string;
}

/** A test worker service class: logs `start id` / `stop id`, and can crash or quit on request. */
export function worker(id: string, log: string[], hooks: WorkerHooks = {}): ServiceClass<Service & TestWorker> {
  return class TestWorker extends Service {
    override async onStart(): Promise<void | 'ignore'> {
      log.push(`start ${id}`);
      return hooks.start?.();
    }
    override async onStop(): Promise<void> {
      log.push(`stop ${id}`);
      await hooks.stop?.();
    }
    crash(): never {
      throw new Error(`${id} crashed`);
    }
    quit(): void {
      this.context.stop();
    }
    ping(): string {
      return id;
    }
  };
}


/**
 * Starts watching the directory for `names` to be added (again); `arrived` resolves once all of
 * them were. Subscribe first, then cause the restart, then await `arrived`: no polling. The
 * deadline allows for a restart that starts a new worker or process on a loaded machine.
 */
export async function watchAdded(node: Node, names: string[]): Promise<{ arrived: Promise<void> }> {
  const directory = await node.service<ServiceDirectory>(DIRECTORY_NAME);
  const waiting = new Set(names);
  const done = deferred();
  const sub = await directory.serviceAdded.connect((e: ServiceEvent) => {
    waiting.delete(e.name);
    if (waiting.size === 0) done.resolve();
  });
  const arrived = within(done.promise, `${names.join(', ')} to be added to the directory`, CHILD_START_MS).finally(() => sub.off());
  return { arrived };
}
