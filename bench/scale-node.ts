/**
 * One node of the directory scale bench in its own process, so that it can be killed: it joins
 * QIACT_DIRECTORY, registers COUNT services named `<PREFIX>-<i>` when told `go`, says
 * `registered`, and then waits to be killed.
 */
import { start } from '../dist/src/index.js';
import { Sink } from './services.js';

// First, before anything is awaited: a parent gone while this node starts must not leave it running.
process.on('disconnect', () => process.exit(0));
if (process.send !== undefined && !process.connected) process.exit(0); // it went before we listened
const node = await start({ onWarning: () => {} });
const count = Number(process.env.COUNT);
const prefix = process.env.PREFIX!;
process.on('message', (m) => {
  if (m !== 'go') return;
  void (async () => {
    for (let i = 0; i < count; i++) await node.spawn(Sink, { name: `${prefix}-${i}` });
    process.send?.('registered');
  })();
});
process.send?.('started');
