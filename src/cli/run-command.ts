import { basename, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isServiceClass } from '../service.js';
import { isSupervisorSpec } from '../supervision/child-spec.js';
import type { Node } from '../node.js';
import { directoryOf, joinRobot, untilInterrupted, UsageError, type RobotOptions } from './session.js';

export interface RunOptions extends RobotOptions {
  listen?: string[];
}

/**
 * `qiact run <module>`: a node that joins the robot's directory and hosts what the module
 * exports: its default export if that is a supervisor spec, else every exported Service class
 * and `fromMachine(...)` service, each named after its export. Runs until interrupted.
 */
export async function runModule(module: string, options: RunOptions, print: (line: string) => void, warn: (line: string) => void): Promise<number> {
  const url = /^[a-z]+:/.test(module) ? module : pathToFileURL(resolve(module)).href;
  let exports: Record<string, unknown>;
  try {
    exports = (await import(url)) as Record<string, unknown>;
  } catch (error) {
    throw new UsageError(`cannot load ${module}: ${(error as Error).message}`);
  }
  const directory = directoryOf(options);
  const node = await joinRobot(options, warn, {
    ...(options.listen?.length ? { listen: options.listen } : {}),
    directoryWait: Infinity,
    // A long-running node reports what happens to it (a peer lost...), like the directory.
    onWarning: (message) => warn(`qiact run: ${message}`),
  });
  try {
    const hosted = await host(node, exports, basename(module));
    if (hosted.length === 0) throw new UsageError(`${module} exports no service (a Service class, a fromMachine(...) service, or a default supervisor spec)`);
    const key = `${node.machineId}/${node.processId}/${node.threadId}`;
    print(options.json ? JSON.stringify({ event: 'hosting', node: key, hosted, directory }) : `qiact run ${key}: hosting ${hosted.join(', ')} (directory ${directory})`);
    const signal = await untilInterrupted(warn);
    print(options.json ? JSON.stringify({ event: 'stopped', signal }) : `qiact run: stopped (${signal})`);
    return 0;
  } finally {
    await node.stop();
  }
}

async function host(node: Node, exports: Record<string, unknown>, label: string): Promise<string[]> {
  if (isSupervisorSpec(exports.default)) {
    await node.supervise(exports.default, { id: label });
    return [`the supervision tree of ${label}`];
  }
  const hosted: string[] = [];
  for (const [name, value] of Object.entries(exports)) {
    if (isServiceClass(value) || isBehaviourFactory(value)) {
      await node.spawn(value, { name, id: name });
      hosted.push(name);
    }
  }
  return hosted;
}

function isBehaviourFactory(x: unknown): x is { kind: 'behaviour'; label: string; create: () => never } {
  return typeof x === 'object' && x !== null && (x as { kind?: unknown }).kind === 'behaviour' && typeof (x as { create?: unknown }).create === 'function';
}
