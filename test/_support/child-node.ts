import type { Node } from '../../src/index.js';

/**
 * The end of a test's child-process node: tells the parent it is ready (with its endpoints),
 * and stops cleanly when told `stop` or when the parent goes away.
 */
export function readyUntilStopped(node: Node): void {
  const stop = async (): Promise<void> => {
    await node.stop();
    process.exit(0);
  };
  process.on('message', (m) => m === 'stop' && void stop());
  process.on('disconnect', () => void stop());
  process.send?.({ ready: node.endpoints });
}
