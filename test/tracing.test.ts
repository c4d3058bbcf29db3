/**
 * One trace across every path: a client outside the robot calls through the Gateway into a
 * service in the node's thread, which calls one in a worker, which calls one in a child
 * process, which calls one on another machine (its own machine id, over TCP). Every thread and
 * process registers the real OpenTelemetry SDK (test/fixtures/traced.ts); the spans are
 * gathered from each and must form one chain, parent to child.
 */
import test from 'ava';
import { SpanKind } from '@opentelemetry/api';
import { fileURLToPath } from 'node:url';
import { connect, gateway, hashToken, start, type GatewayService } from '../src/index.js';
import { makeCerts } from './_support/certs.js';
import { otherMachine } from './_support/machines.js';
import { Hop, recordedSpans, type SpanRecord } from './fixtures/traced.js';

const MODULE = new URL('./fixtures/traced.ts', import.meta.url).href;
const certs = makeCerts();

test('one trace follows a call from a gateway client through a thread, a worker, a process and another machine', async (t) => {
  t.timeout(120_000, 'starts a worker, a process, another machine and a gateway');
  const robot = await start({ machineId: 'trace-robot', listen: ['tcp:127.0.0.1:0'], onWarning: () => {} });
  t.teardown(() => robot.stop());
  await robot.spawn(Hop, { name: 'hop-thread' });
  await robot.spawn(Hop, { name: 'hop-worker', in: 'worker', module: MODULE });
  await robot.spawn(Hop, { name: 'hop-process', in: 'process', module: MODULE });
  const tcp = robot.endpoints.find((e) => e.startsWith('tcp:'))!;
  await otherMachine(t, { machineId: 'trace-arm', directory: tcp, listen: 'tcp:127.0.0.1:0', service: 'hop-machine', fixture: fileURLToPath(new URL('./fixtures/traced-machine.ts', import.meta.url)) });
  await robot.spawn(gateway({ listen: 'tls://127.0.0.1:0', cert: certs.server.cert, key: certs.server.key, tokens: { tester: hashToken('tester-token') }, permissions: { tester: { allow: ['hop-thread.pass'] } } }), { name: 'Gateway' });
  const url = await (await robot.service<GatewayService>('Gateway')).endpoint();

  const client = await connect(url, { token: 'tester-token', ca: certs.ca, onWarning: () => {} });
  t.teardown(() => client.close());
  const hops = await (await client.service<Hop>('hop-thread')).pass(['hop-worker', 'hop-process', 'hop-machine']);
  t.is(hops.length, 4);
  t.regex(hops[3]!, /^hop-machine@trace-arm\//, 'the last hop ran on the other machine');

  // Gather the spans of every thread and process (the calls that fetch them make spans of their own, in other traces).
  const spans: SpanRecord[] = [...recordedSpans()];
  for (const name of ['hop-worker', 'hop-process', 'hop-machine']) spans.push(...(await (await robot.service<Hop>(name)).spans()));
  const root = spans.find((s) => s.parentId === null && s.name === 'hop-thread/pass' && s.attributes['qiact.path'] === 'gateway');
  t.truthy(root, 'the outside client made the first span');
  const trace = spans.filter((s) => s.traceId === root!.traceId);

  // Walk the chain from the client's span down: each span's child is the next step (a hop also
  // looks the next service up in the directory: a span of its own, beside the call).
  const childOf = (parent: SpanRecord): SpanRecord[] => trace.filter((s) => s.parentId === parent.spanId && s.name.endsWith('/pass'));
  const chain: SpanRecord[] = [root!];
  for (let next = childOf(root!); next.length > 0; next = childOf(chain.at(-1)!)) {
    t.is(next.length, 1, `one child of ${chain.at(-1)!.name}: ${next.map((s) => s.name).join(', ')}`);
    chain.push(next[0]!);
  }
  const steps = chain.map((s) => `${SpanKind[s.kind]} ${s.name}${s.attributes['qiact.path'] ? ` (${String(s.attributes['qiact.path'])})` : ''}`);
  t.deepEqual(steps, [
    'CLIENT hop-thread/pass (gateway)', // the outside client
    'CLIENT hop-thread/pass (direct)', // the gateway, calling in on the client's behalf
    'SERVER hop-thread/pass',
    'CLIENT hop-worker/pass (port)',
    'SERVER hop-worker/pass',
    'CLIENT hop-process/pass (unix)',
    'SERVER hop-process/pass',
    'CLIENT hop-machine/pass (tcp)',
    'SERVER hop-machine/pass',
  ]);
  t.is(new Set(chain.map((s) => s.where)).size, 4, 'recorded in four threads and processes');
  t.like(chain[2]!.attributes, { 'rpc.system': 'qiact', 'rpc.service': 'hop-thread', 'rpc.method': 'pass' });
  t.true(chain.every((s) => !s.error));
  t.true(
    trace.some((s) => s.name === 'ServiceDirectory/lookup' && s.parentId === chain[2]!.spanId),
    'the look-up of the next hop is in the trace too',
  );
});
