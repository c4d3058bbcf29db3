/**
 * One node of the directory scale bench in its own process, so that it can be killed: it joins
 * QIACT_DIRECTORY, registers COUNT services named `<PREFIX>-<i>` when told `go`, says
 * `registered`, and then waits to be killed.
 */
import { start } from '../dist/src/index.js';
import { Sink } from './services.js';

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
process.on('disconnect', () => process.exit(0));
process.send?.('started');
