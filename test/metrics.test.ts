/**
 * Seeing inside a running node: node.metrics() per actor, link and node; the samples of every
 * node of the robot; the same figures through the real OpenTelemetry SDK and its Prometheus
 * exporter, scraped over HTTP as Prometheus would.
 */
import test from 'ava';
import { metrics } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gateway, hashToken, MailboxFullError, MAX_LISTED_ACTORS, Refusal, ROBOT_METRICS_NAME, robotMetrics, Service, start, supervisor, type ActorMetrics, type GatewayService, type Node } from '../src/index.js';
import { makeCerts } from './_support/certs.js';
import { join } from 'node:path';
import { Counter } from './fixtures/services.js';
import { deferred, within } from './_support/wait.js';
import { watchAdded } from './_support/workers.js';
import { cliEnv, qiact } from './_support/cli.js';

// Registered before any node starts: OpenTelemetry's metrics API has no proxy (see the README).
const prometheus = new PrometheusExporter({ preventServerStart: true });
metrics.setGlobalMeterProvider(new MeterProvider({ readers: [prometheus] }));

const MODULE = new URL('./fixtures/services.ts', import.meta.url).href;

/** Opened by the test: until then every `work` of a Slow service waits (the actor is busy meanwhile). */
let gate = deferred();
/** Resolved when a Slow service has a message in hand. */
let working = deferred();

/** A service that takes its time: each message waits until the test lets it go. */
class Slow extends Service {
  async work(n: number): Promise<number> {
    working.resolve();
    await gate.promise;
    return n;
  }
  refuse(): never {
    throw new Refusal('NotNow', 'not now');
  }
  fail(): never {
    throw new Error('on purpose');
  }
}

async function node(t: { teardown(fn: () => unknown): void }, machineId = 'metrics-test'): Promise<Node> {
  const n = await start({ machineId, onWarning: () => {} });
  t.teardown(() => n.stop());
  return n;
}

const actorNamed = (n: Node, name: string): ActorMetrics => n.metrics().actors.find((a) => a.name === name)!;

test.serial('a flooded slow service shows its mailbox depth, its peak, what was refused and what it handled', async (t) => {
  gate = deferred();
  const n = await node(t);
  await n.spawn(Slow, { name: 'slow', mailbox: { capacity: 50 } });
  const slow = await n.service<Slow>('slow');
  working = deferred();
  const calls = [slow.work(0)];
  await within(working.promise, 'the first message to be in hand');
  for (let i = 1; i <= 50; i++) calls.push(slow.work(i)); // 50 queued behind it
  const refused = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => slow.work(100 + i)));
  t.true(refused.every((r) => r.status === 'rejected' && r.reason instanceof MailboxFullError));
  let seen = actorNamed(n, 'slow');
  t.like(seen, { name: 'slow', label: 'Slow', in: 'thread', status: 'running', mailbox: 50, mailboxPeak: 50, mailboxCapacity: 50, dropped: 10, restarts: 0 });
  t.deepEqual(seen.failures, { MAILBOX_FULL: 10 });

  // Let it go: the flood drains, and every call was handled (the describe call too).
  gate.resolve();
  t.is((await within(Promise.all(calls), 'the flood to drain')).length, 51);
  seen = actorNamed(n, 'slow');
  t.like(seen, { mailbox: 0, mailboxPeak: 50 });
  t.true(seen.handled >= 52, `handled ${seen.handled}`);
  for (let i = 0; i < 20; i++) await slow.work(i);
  t.is(actorNamed(n, 'slow').handlingUs.count, 1, 'one message in 64 is timed');
  await t.throwsAsync(slow.refuse());
  t.deepEqual(actorNamed(n, 'slow').failures, { MAILBOX_FULL: 10, SERVICE_ERROR: 1 });
  // A crash ends the run: the next run starts its counters afresh and knows it is a restart.
  const back = await watchAdded(n, ['slow']);
  await t.throwsAsync(slow.fail());
  await back.arrived;
  t.like(actorNamed(n, 'slow'), { restarts: 1, handled: 0, mailboxPeak: 0, failures: {} });
  const sample = n.metrics();
  t.is(sample.node, `metrics-test/${process.pid}/0`);
  t.true(sample.eventLoop.utilization >= 0 && sample.eventLoop.utilization <= 1);
  t.true(sample.memory.heapUsed > 0 && sample.memory.rss >= sample.memory.heapUsed);
});

test.serial('a node of many actors: a sample lists those worth a row, at most MAX_LISTED_ACTORS, and sums the rest', async (t) => {
  const n = await node(t);
  const sup = await n.supervise(supervisor({ strategy: 'dynamic' }), { id: 'people' });
  const started: { address: string }[] = [];
  for (let i = 0; i < 3000; i++) started.push((await sup.startChild({ start: Slow }))!);
  await n.spawn(Counter, { name: 'counter' });
  // One unnamed actor in the middle that refused a call: it has something to show.
  const refusing = await n.serviceAt<Slow>(started[1500]!.address);
  await t.throwsAsync(refusing.refuse());
  const quiet = await n.serviceAt<Slow>(started[2500]!.address);
  gate = deferred();
  gate.resolve();
  await quiet.work(1);

  const sample = n.metrics();
  t.true(sample.actorCount >= 3003, `${sample.actorCount} actors`);
  t.true(sample.actors.length <= MAX_LISTED_ACTORS);
  const listed = new Set(sample.actors.map((a) => a.address));
  t.true(sample.actors.some((a) => a.name === 'counter'));
  t.true(sample.actors.some((a) => a.label === 'supervisor(dynamic)'));
  t.true(listed.has(started[1500]!.address), 'the actor that refused a call is listed');
  t.false(listed.has(started[2500]!.address), 'an unnamed actor with nothing to show is summed');
  t.is(sample.actors.find((a) => a.address === started[1500]!.address)!.name, null, 'an unnamed child has no name (its id is not one)');
  t.is(sample.actors.length + sample.unlisted.actors, sample.actorCount);
  t.true(sample.unlisted.handled >= 1);
  t.deepEqual(sample.unlisted.failures, {});
  await sup.stop();
  // Back under the bound: every actor is listed again.
  const small = n.metrics();
  t.is(small.actors.length, small.actorCount);
  t.deepEqual(small.unlisted, { actors: 0, mailbox: 0, handled: 0, dropped: 0, failures: {} });
});

test.serial('links count messages and bytes each way; the robot sample covers every node, a worker and a process too', async (t) => {
  const n = await node(t, 'metrics-robot');
  await n.spawn(Counter, { name: 'in-worker', in: 'worker', module: MODULE });
  await n.spawn(Counter, { name: 'in-process', in: 'process', module: MODULE });
  const remote = await n.service<Counter>('in-process');
  for (let i = 0; i < 20; i++) await remote.add(1);
  const unix = n.metrics().links.find((l) => l.path === 'unix')!;
  t.truthy(unix, 'a unix link to the child process');
  t.true(unix.up);
  t.true(unix.messagesOut >= 20 && unix.messagesIn >= 20, `${unix.messagesOut} out, ${unix.messagesIn} in`);
  t.true(unix.bytesOut > unix.messagesOut * 4 && unix.bytesIn > unix.messagesIn * 4, 'bytes count frames, headers included');
  t.true(n.metrics().actors.some((a) => a.name === 'in-worker' && a.in === 'worker'), 'the stand-in of a placed service says where it runs');

  const robot = await n.robotMetrics();
  const nodes = robot.map((m) => m.node);
  t.is(nodes.length, 3, nodes.join(', '));
  const child = robot.find((m) => m.actors.some((a) => a.name === 'in-process' && a.in === 'thread'))!;
  t.truthy(child, 'the child process reports the service itself');
  t.true(child.actors.find((a) => a.name === 'in-process')!.handled >= 20);
});

test.serial('the real Prometheus exporter, scraped over HTTP, shows a service mailbox depth and call count', async (t) => {
  gate = deferred();
  const n = await node(t, 'metrics-prom');
  await n.spawn(Slow, { name: 'prom-slow' });
  await n.spawn(Slow); // unnamed: counted with the other unnamed actors, no series of its own
  const slow = await n.service<Slow>('prom-slow');
  working = deferred();
  const held = [slow.work(0)];
  await within(working.promise, 'the first message to be in hand');
  for (let i = 1; i < 8; i++) held.push(slow.work(i)); // 7 waiting
  const server = createServer((req, res) => prometheus.getMetricsRequestHandler(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const { port } = server.address() as AddressInfo;
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const series = (name: string): string | undefined => text.split('\n').find((l) => l.startsWith(name) && l.includes('qiact_service="prom-slow"'));
  t.regex(series('qiact_actor_mailbox_depth') ?? '', / 7$/, text.slice(0, 2000));
  t.regex(series('qiact_actor_messages') ?? '', / 2$/, 'the describe call was handled, and the work in hand is counted');
  t.regex(text, /qiact_node_actors\{[^}]*qiact_node="metrics-prom\/\d+\/0"[^}]*\} \d+/);
  t.regex(text, /qiact_actor_mailbox_depth\{[^}]*qiact_service="\(unnamed\)"/);
  t.notRegex(text, /qiact_service="Slow-\d+"/, 'an unnamed service is not a series of its own (its generated id is not a name)');
  gate.resolve();
  await Promise.all(held);
});

/** Works 0.25 ms of CPU on each message: a flood makes its mailbox deep while it keeps working. */
class Steady extends Service {
  work(): void {
    const until = performance.now() + 0.25;
    while (performance.now() < until);
  }
}

test.serial('qiact top --json streams samples: a flooded service shows its mailbox depth and its message rate; the text view lists it', async (t) => {
  const n = await start({ machineId: 'metrics-top', listen: ['tcp:127.0.0.1:0'], onWarning: () => {} });
  t.teardown(() => n.stop());
  await n.spawn(Steady, { name: 'steady', mailbox: { capacity: 40_000 } });
  const steady = await n.service<Steady>('steady');
  for (let i = 0; i < 40_000; i++) steady.work.post(); // 10 s of work, handled 1024 at a time
  const inside = actorNamed(n, 'steady');
  t.true(inside.mailbox > 30_000, `mailbox ${inside.mailbox}`);

  const env = cliEnv();
  const directory = ['--directory', n.endpoints.find((e) => e.startsWith('tcp:'))!];
  const json = await qiact(env, 'top', '--json', '--count', '2', '--interval', '300', ...directory);
  t.is(json.code, 0, json.stderr);
  const samples = json.stdout.trim().split('\n').map((l) => JSON.parse(l) as { nodes: { node: string }[]; actors: (ActorMetrics & { rate: number | null })[] });
  t.is(samples.length, 2);
  t.true(samples[1]!.nodes.some((m) => m.node === `metrics-top/${process.pid}/0`));
  const seen = samples[1]!.actors.find((a) => a.name === 'steady')!;
  t.true(seen.mailbox > 0, `mailbox ${seen.mailbox}`);
  t.true(seen.rate !== null && seen.rate > 0, `rate ${seen.rate}`);
  t.is(samples[0]!.actors.find((a) => a.name === 'steady')!.rate, null, 'no rate before a second sample');

  const text = await qiact(env, 'top', '--count', '1', '--sort', 'mailbox', ...directory);
  t.is(text.code, 0, text.stderr);
  const lines = text.stdout.split('\n');
  const header = lines.findIndex((l) => l.startsWith('SERVICE'));
  t.regex(lines[header]!, /^SERVICE +NODE +IN +MAILBOX +PEAK +MSG\/S +HANDLED +FAILED +RESTARTS +p99 µs$/);
  t.regex(lines[header + 1]!, /^steady +metrics-top\/\d+\/0 +thread +\d+\/40000 /, 'the deepest mailbox comes first');
  const bad = await qiact(env, 'top', '--sort', 'size', ...directory);
  t.is(bad.code, 2);
  t.regex(bad.stderr, /--sort must be 'mailbox' or 'rate', not 'size'/);
});

test.serial('qiact top and qiact tree through the Gateway: a read-only identity that may watch RobotMetrics sees the robot; one that may not is told why', async (t) => {
  const certs = makeCerts();
  const n = await start({ machineId: 'metrics-door', onWarning: () => {} });
  t.teardown(() => n.stop());
  await n.spawn(Counter, { name: 'arm' });
  await n.spawn(robotMetrics(n, { interval: 200 }), { name: ROBOT_METRICS_NAME });
  const permissions = { viewer: { allow: [`${ROBOT_METRICS_NAME}.samples`, `${ROBOT_METRICS_NAME}.treesChanged`], readOnly: true }, stranger: { allow: ['arm.add'] } };
  await n.spawn(gateway({ listen: 'tls://127.0.0.1:0', cert: certs.server.cert, key: certs.server.key, tokens: { viewer: hashToken('viewer-token'), stranger: hashToken('stranger-token') }, permissions }), { name: 'Gateway' });
  const url = await (await n.service<GatewayService>('Gateway')).endpoint();
  const env = cliEnv();
  const door = ['--gateway', url, '--ca', join(certs.dir, 'test-ca.crt')];

  const seen = await qiact(env, 'top', '--json', '--count', '1', ...door, '--token', 'viewer-token');
  t.is(seen.code, 0, seen.stderr);
  const sample = JSON.parse(seen.stdout) as { nodes: { node: string }[]; actors: ActorMetrics[] };
  t.deepEqual(sample.nodes.map((m) => m.node), [`metrics-door/${process.pid}/0`]);
  t.true(sample.actors.some((a) => a.name === 'arm'));
  const tree = await qiact(env, 'tree', '--json', ...door, '--token', 'viewer-token');
  t.is(tree.code, 0, tree.stderr);
  const [only] = JSON.parse(tree.stdout) as { node: string; tree: { children: { name?: string; children?: { name?: string }[] }[] } }[];
  t.is(only!.node, `metrics-door/${process.pid}/0`);
  t.true(JSON.stringify(only!.tree).includes('"name":"arm"'), 'the spawned service in the tree');

  const refused = await qiact(env, 'top', '--count', '1', ...door, '--token', 'stranger-token');
  t.is(refused.code, 1);
  t.regex(refused.stderr, /the robot offers no RobotMetrics\.samples to this client .*RobotMetrics\.samples/);
});
