/**
 * The robot's directory for the scale bench, in its own process as `qiact directory` runs it:
 * it tells its parent its TCP endpoint, answers `rss` with its memory, and stops when told.
 */
import { start } from '../src/index.js';

const node = await start({ directory: '', listen: ['tcp:127.0.0.1:0'], onWarning: () => {} });
process.on('message', (m) => {
  if (m === 'rss') process.send?.({ rss: process.memoryUsage().rss });
  else void node.stop().then(() => process.exit(0));
});
process.on('disconnect', () => process.exit(0));
process.send?.({ endpoint: node.endpoints.find((e) => e.startsWith('tcp:')) });
