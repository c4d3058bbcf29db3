/**
 * The raw floors' far end: a bare echo with no runtime. As a child process (argv: `unix PATH`
 * or `tcp`) it echoes bytes on a socket and reports where it listens; the MessagePort floor
 * uses ECHO_WORKER, a worker that posts every message back.
 */
import { createServer } from 'node:net';

export const ECHO_WORKER = `
  const { parentPort } = require('node:worker_threads');
  parentPort.on('message', (m) => parentPort.postMessage(m));
`;

if (process.argv[2] === 'unix' || process.argv[2] === 'tcp') {
  const server = createServer((socket) => {
    socket.setNoDelay(true);
    socket.on('data', (chunk) => socket.write(chunk));
    socket.on('error', () => {});
  });
  const onListening = (): void => {
    const address = server.address();
    process.send?.(typeof address === 'string' ? address : address?.port);
  };
  if (process.argv[2] === 'unix') server.listen(process.argv[3], onListening);
  else server.listen(0, '127.0.0.1', onListening);
  process.on('disconnect', () => process.exit(0));
}
