/**
 * "Another machine" for the bench: a node in its own process with its own machine id
 * (QIACT_MACHINE_ID), joining the directory at QIACT_DIRECTORY over TCP and listening on
 * QIACT_LISTEN. It offers Echo as `echo-tcp` (or BENCH_NAME) and, when BENCH_GATEWAY names a JSON file of gateway
 * options, a Gateway in front of it (for the row of a call from outside); with BENCH_XMPP (XMPP
 * link options as JSON), an XMPP link too. It tells its parent when ready (with the gateway's
 * endpoint), and stops when told. With BENCH_SINK set, it also offers Sink as `sink-tcp` and
 * BorrowingSink as `borrowing-sink-tcp`.
 */
import { readFileSync } from 'node:fs';
import { gateway, start, xmppLink, type GatewayOptions, type GatewayService, type XmppLinkOptions, type XmppLinkService } from '../dist/src/index.js';
import { BorrowingSink, Echo, Sink } from './services.js';

// First, before anything is awaited: a parent that goes away while this node is still starting
// (the soak bench restarts this "machine" up to its last second) must not leave it running.
process.on('disconnect', () => process.exit(0));
if (process.send !== undefined && !process.connected) process.exit(0); // it went before we listened
const node = await start({ onWarning: () => {} });
await node.spawn(Echo, { name: process.env.BENCH_NAME ?? 'echo-tcp' });
if (process.env.BENCH_SINK) {
  await node.spawn(Sink, { name: 'sink-tcp' });
  await node.spawn(BorrowingSink, { name: 'borrowing-sink-tcp' });
}
let endpoint: string | null = null;
let webSocket: string | null = null;
if (process.env.BENCH_GATEWAY) {
  const options = JSON.parse(readFileSync(process.env.BENCH_GATEWAY, 'utf8')) as GatewayOptions;
  await node.spawn(gateway(options), { name: 'Gateway' });
  const door = await node.service<GatewayService>('Gateway');
  endpoint = await door.endpoint();
  webSocket = await door.webSocketEndpoint();
}
if (process.env.BENCH_XMPP) {
  await node.spawn(xmppLink(JSON.parse(process.env.BENCH_XMPP) as XmppLinkOptions), { name: 'XmppLink' });
  const link = await node.service<XmppLinkService>('XmppLink');
  if (!(await link.online.get())) await new Promise<void>((resolve) => void link.online.connect((online) => online && resolve()));
}
process.on('message', () => void node.stop().then(() => process.exit(0)));
process.send?.({ gateway: endpoint, webSocket });
