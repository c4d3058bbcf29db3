/**
 * "Another machine" for the bench: a node in its own process with its own machine id
 * (QIACT_MACHINE_ID), joining the directory at QIACT_DIRECTORY over TCP and listening on
 * QIACT_LISTEN. It offers Echo as `echo-tcp`, tells its parent when ready, and stops when told.
 */
import { start } from '../src/index.js';
import { Echo } from './services.js';

const node = await start({ onWarning: () => {} });
await node.spawn(Echo, { name: 'echo-tcp' });
process.on('message', () => void node.stop().then(() => process.exit(0)));
process.on('disconnect', () => process.exit(0));
process.send?.('ready');
