import { ServiceDirectory } from '../actors/directory/directory.js';
import { InvalidArgumentError } from './errors.js';
import { Node } from './node.js';
import { NodeCore, type StartOptions } from './node-core.js';

/**
 * Starts a node in this thread: it listens on its endpoints and uses the directory of the node
 * at `options.directory` (or `QIACT_DIRECTORY`); with neither, it runs an embedded directory.
 */
export async function start(options: StartOptions = {}): Promise<Node> {
  // The composition root: the core knows the directory by its words only (directory/entries.ts);
  // the embedded one is the system actor of actors/directory/, built on the runtime as any service.
  const capacity = options.directoryCapacity;
  if (capacity !== undefined && (!Number.isSafeInteger(capacity) || capacity < 1)) throw new InvalidArgumentError('directoryCapacity', `${String(capacity)} must be a whole number >= 1`);
  const core = new NodeCore(options, (attached, endpoints) => new ServiceDirectory(attached, endpoints, capacity));
  await core.boot();
  return new Node(core);
}
