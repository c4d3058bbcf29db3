/**
 * The robot's directory for the scale bench, in its own process as `qiact directory` runs it:
 * it tells its parent its TCP endpoint, answers `memory` with its resident memory and its heap
 * after a full GC (the bench runs it with --expose-gc), and stops when told `stop`.
 */
import { start } from '../dist/src/index.js';

// First, before anything is awaited: a parent gone while this node starts must not leave it running.
process.on('disconnect', () => process.exit(0));
if (process.send !== undefined && !process.connected) process.exit(0); // it went before we listened
const node = await start({ directory: '', listen: ['tcp:127.0.0.1:0'], directoryCapacity: 1_000_000, onWarning: () => {} });
process.on('message', (m) => {
  if (m === 'memory') {
    (globalThis as { gc?: () => void }).gc?.();
    const { rss, heapUsed } = process.memoryUsage();
    process.send?.({ rss, heap: heapUsed });
  } else void node.stop().then(() => process.exit(0));
});
process.send?.({ endpoint: node.endpoints.find((e) => e.startsWith('tcp:')) });
