import test, { type ExecutionContext } from 'ava';
import { setFlagsFromString } from 'node:v8';
import { BadMessageError, connect, gateway, hashToken, InvalidArgumentError, release, ROBOT_METRICS_NAME, robotMetrics, routeOf, start, transfer, type GatewayOptions, type Node, type NodeMetrics, type Remote, type RobotMetricsService } from '../src/index.js';
import { makeCerts } from './_support/certs.js';
import { freePort } from './_support/real-parts.js';
import { checksum, Counter, MODULE, pattern } from './fixtures/services.js';
import { otherMachine } from './_support/machines.js';
import { deferred, within } from './_support/wait.js';

// What robots send: camera frames, laser scans, nested messages. Each path carries them intact
// and in order; a large one does not hold up small calls to other services on the same link.

const certs = makeCerts();

function scan(length: number): Float32Array {
  return Float32Array.from({ length }, (_, i) => Math.sin(i / 100) * 10);
}

/** The Counter named `name` on each path: in a worker (port), a service process (unix), another machine (tcp). */
async function onEveryPath(t: ExecutionContext, node: Node): Promise<[string, Remote<Counter>][]> {
  await node.spawn(Counter, { name: 'in-worker', in: 'worker', module: MODULE });
  await node.spawn(Counter, { name: 'in-process', in: 'process', module: MODULE });
  const tcp = node.endpoints.find((e) => e.startsWith('tcp:'))!;
  await otherMachine(t, { machineId: 'payload-other', directory: tcp, listen: 'tcp:127.0.0.1:0', service: 'on-machine' });
  const handles: [string, Remote<Counter>][] = [];
  for (const name of ['in-worker', 'in-process', 'on-machine']) {
    const handle = await node.service<Counter>(name);
    handles.push([routeOf(handle).path, handle]);
  }
  t.deepEqual(
    handles.map(([path]) => path),
    ['port', 'unix', 'tcp'],
  );
  return handles;
}

/** A node, and two Counters (camera, arm) on another machine: two services behind one tcp link. */
async function cameraAndArmOnAnotherMachine(t: ExecutionContext, machineId: string): Promise<{ camera: Remote<Counter>; arm: Remote<Counter> }> {
  const node = await start({ machineId, listen: ['tcp:127.0.0.1:0'] });
  t.teardown(() => node.stop());
  const tcp = node.endpoints.find((e) => e.startsWith('tcp:'))!;
  await otherMachine(t, { machineId: `${machineId}-other`, directory: tcp, listen: 'tcp:127.0.0.1:0', service: 'camera', env: { SECOND_SERVICE: 'arm' } });
  return { camera: await node.service<Counter>('camera'), arm: await node.service<Counter>('arm') };
}

test.serial('camera frames, laser scans and nested messages cross every path intact, and in order with small messages', async (t) => {
  const node = await start({ machineId: 'payload-main', listen: ['tcp:127.0.0.1:0'] });
  t.teardown(() => node.stop());
  for (const [path, counter] of await onEveryPath(t, node)) {
    const frame = pattern(1024 * 1024 + 3, 1); // an odd length: no alignment to lean on
    const back = (await counter.echo(frame)) as Uint8Array;
    t.true(back instanceof Uint8Array, `${path}: bytes come back as bytes`);
    t.is(checksum(back), checksum(frame), `${path}: 1 MiB intact`);
    const laser = scan(16 * 1024);
    const laserBack = (await counter.echo(laser)) as Float32Array;
    t.true(laserBack instanceof Float32Array, `${path}: a Float32Array comes back as one`);
    t.deepEqual(Array.from(laserBack), Array.from(laser), `${path}: 64 KiB of floats intact`);
    // Large views nested in a message, beside small fields, and a view of part of a buffer.
    const image = { width: 640, height: 480, encoding: 'rgb8', data: pattern(300_000, 2), stamp: { sec: 1732900000, nsec: 123 } };
    const part = pattern(200_000, 3).subarray(1000, 150_000);
    const [imageBack, partBack] = (await counter.echo([image, part])) as [typeof image, Uint8Array];
    t.like(imageBack, { width: 640, height: 480, encoding: 'rgb8', stamp: { sec: 1732900000, nsec: 123 } });
    t.is(checksum(imageBack.data), checksum(image.data), `${path}: a nested view intact`);
    t.is(checksum(partBack), checksum(part), `${path}: a view of part of a buffer: that part only`);
    // Posts to one service keep their order, large or small.
    const big = pattern(3 * 1024 * 1024, 4);
    const middle = pattern(40_000, 5);
    counter.note.post('a');
    counter.note.post('big', big);
    counter.note.post('b');
    counter.note.post('middle', middle);
    counter.note.post('c');
    t.deepEqual(await counter.notes(), ['a', `big:${big.length}:${checksum(big)}`, 'b', `middle:${middle.length}:${checksum(middle)}`, 'c'], `${path}: in the order sent`);
  }
});

test.serial('a small call to another service on the same link does not wait for a large transfer to finish', async (t) => {
  const { camera, arm } = await cameraAndArmOnAnotherMachine(t, 'payload-hol');
  t.is(await arm.add(1), 1); // the link is up
  const settled: string[] = [];
  const frame = pattern(12 * 1024 * 1024, 6);
  const large = camera.echo(frame).then((back) => {
    settled.push('large');
    return back as Uint8Array;
  });
  const small = arm.add(1).then((n) => {
    settled.push('small');
    return n;
  });
  t.is(await within(small, 'the small call'), 2);
  const back = await within(large, 'the 12 MiB echo', 20_000);
  t.is(checksum(back), checksum(frame));
  t.deepEqual(settled, ['small', 'large'], 'the small call, made after the large one, came back first');
});

test.serial('a method that borrows its bytes gets each large payload intact in memory used again; bytes a method owns are never used again', async (t) => {
  const node = await start({ machineId: 'payload-borrow', listen: ['tcp:127.0.0.1:0'] });
  t.teardown(() => node.stop());
  await node.spawn(Counter, { name: 'borrow-process', in: 'process', module: MODULE });
  const tcp = node.endpoints.find((e) => e.startsWith('tcp:'))!;
  await otherMachine(t, { machineId: 'payload-borrow-other', directory: tcp, listen: 'tcp:127.0.0.1:0', service: 'borrow-machine' });
  for (const name of ['borrow-process', 'borrow-machine']) {
    const counter = await node.service<Counter>(name);
    const path = routeOf(counter).path;
    const frames = [1, 2, 3, 4, 5].map((seed) => pattern(1024 * 1024 + 5, seed)); // over 256 KiB: sent in slices
    const looked = async (frame: Uint8Array): Promise<boolean> => {
      const { sum, sameMemory } = await counter.look(frame);
      t.is(sum, checksum(frame), `${path}: borrowed bytes intact`);
      return sameMemory;
    };
    await looked(frames[0]!);
    t.true(await looked(frames[1]!), `${path}: the next payload is received into the memory the borrowing call gave back`);
    await counter.keep(frames[2]!); // takes that memory, and owns it
    t.false(await looked(frames[3]!), `${path}: memory whose bytes a method owns is not used again`);
    t.true(await looked(frames[4]!), `${path}: borrowed memory is used again`);
    t.deepEqual(await counter.keptSums(), [checksum(frames[2]!)], `${path}: the bytes kept are intact`);
  }
});

test.serial('a caller that releases a large result from another node gets the next one in that memory, intact; memory not released is never used again; release() of anything else takes nothing', async (t) => {
  const node = await start({ machineId: 'payload-release', listen: ['tcp:127.0.0.1:0'] });
  t.teardown(() => node.stop());
  await node.spawn(Counter, { name: 'release-process', in: 'process', module: MODULE });
  await node.spawn(Counter, { name: 'release-worker', in: 'worker', module: MODULE });
  const tcp = node.endpoints.find((e) => e.startsWith('tcp:'))!;
  await otherMachine(t, { machineId: 'payload-release-other', directory: tcp, listen: 'tcp:127.0.0.1:0', service: 'release-machine' });
  const intact = (got: Uint8Array, sent: Uint8Array): boolean => Buffer.from(got.buffer, got.byteOffset, got.byteLength).equals(sent);
  const echo = (counter: Remote<Counter>, bytes: Uint8Array): Promise<Uint8Array> => counter.echo(bytes) as Promise<Uint8Array>;
  for (const name of ['release-process', 'release-machine']) {
    const counter = await node.service<Counter>(name);
    const path = routeOf(counter).path;
    const frames = [1, 2, 3].map((seed) => pattern(1024 * 1024 + 5, seed)); // over 256 KiB: sent in slices
    const first = await echo(counter, frames[0]!);
    t.true(intact(first, frames[0]!), `${path}: the first result intact`);
    t.true(release(first), `${path}: its memory is taken back`);
    t.false(release(first), `${path}: and only once`);
    const second = await echo(counter, frames[1]!);
    t.is(second.buffer, first.buffer, `${path}: the next result is received into the memory released`);
    t.true(intact(second, frames[1]!), `${path}: and is intact`);
    const third = await echo(counter, frames[2]!);
    t.not(third.buffer, second.buffer, `${path}: memory not released is not used again`);
    t.true(intact(second, frames[1]!) && intact(third, frames[2]!), `${path}: both results intact`);
  }
  const worker = await node.service<Counter>('release-worker');
  t.false(release(await echo(worker, pattern(1024 * 1024 + 5, 4))), 'a result from a worker (a structured clone) lies in no such memory');
  t.false(release(await echo(await node.service<Counter>('release-process'), pattern(1000, 5))), 'nor a result too small to be sent in slices');
  t.false(release(pattern(1024 * 1024 + 5, 6)), 'nor memory made here');
});

test.serial('the memory a node keeps for borrowed payloads shows in its metrics, and is let go once no large payload has come for 5 s', async (t) => {
  const node = await start({ machineId: 'payload-idle' });
  t.teardown(() => node.stop());
  await node.spawn(Counter, { name: 'recorder', in: 'process', module: MODULE });
  const recorder = await node.service<Counter>('recorder');
  const address = routeOf(recorder).address;
  const recorderNode = address.slice(0, address.lastIndexOf('/'));
  const keptThere = (samples: readonly NodeMetrics[]): number | undefined => samples.find((m) => m.node === recorderNode)?.memory.receiveBuffers;
  t.is((await node.metricsOf(recorderNode)).memory.receiveBuffers, 0, 'nothing kept before a payload');
  const frame = pattern(1024 * 1024 + 5, 1); // over 256 KiB: sent in slices
  await recorder.look(frame);
  const lookedAt = performance.now();
  const kept = (await node.metricsOf(recorderNode)).memory.receiveBuffers;
  t.true(kept >= frame.length && kept <= frame.length * 1.125, `the buffer given back is kept (${kept} bytes)`);
  // Watch the recorder's node, sample after sample, until its memory is let go.
  await node.spawn(robotMetrics(node, { interval: 250 }), { name: ROBOT_METRICS_NAME });
  const metrics = await node.service<RobotMetricsService>(ROBOT_METRICS_NAME);
  const letGo = deferred();
  const watching = await metrics.samples.connect((samples) => {
    if (keptThere(samples) === 0) letGo.resolve();
  });
  t.teardown(() => watching.off());
  await within(letGo.promise, 'the kept buffer to be let go', 15_000);
  const after = performance.now() - lookedAt;
  t.true(after > 4000, `kept for a while, for payloads that may still come (let go ${after.toFixed(0)} ms after)`);
});

test.serial('an async method that borrows its bytes has them until its promise settles, while other payloads arrive', async (t) => {
  const { camera, arm } = await cameraAndArmOnAnotherMachine(t, 'payload-hold');
  const [first, held, during] = [7, 8, 9].map((seed) => pattern(2 * 1024 * 1024, seed));
  await arm.look(first!); // its memory is given back: `held` is received into it
  const holding = camera.hold(held!);
  await within(arm.whenHolding(), 'the camera to hold its bytes');
  const { sum } = await arm.look(during!); // arrives while the camera's call is not over
  t.is(sum, checksum(during!));
  await arm.letGo();
  t.is(await within(holding, 'the held call'), checksum(held!), 'the held bytes were not used for the payload that came meanwhile');
});

test.serial('a message over what the peer takes is refused with a typed error, and the link goes on', async (t) => {
  const node = await start({ machineId: 'payload-limit', listen: ['tcp:127.0.0.1:0'] });
  t.teardown(() => node.stop());
  const tcp = node.endpoints.find((e) => e.startsWith('tcp:'))!;
  await otherMachine(t, { machineId: 'payload-limit-other', directory: tcp, listen: 'tcp:127.0.0.1:0', service: 'small-peer', env: { QIACT_MAX_MESSAGE_BYTES: String(1024 * 1024) } });
  const peer = await node.service<Counter>('small-peer');
  const error = await t.throwsAsync(peer.echo(new Uint8Array(2 * 1024 * 1024)), { instanceOf: BadMessageError });
  t.regex(error!.message, /1048576 bytes/, 'names the limit');
  t.is(checksum((await peer.echo(pattern(900_000, 7))) as Uint8Array), checksum(pattern(900_000, 7)), 'under the limit, on the same link');
  t.is(await peer.add(5), 5);
  await t.throwsAsync(start({ maxMessageBytes: 100 }), { instanceOf: InvalidArgumentError, message: /maxMessageBytes/ }, 'a limit under 4096 is refused');
});

test.serial('heapGrowingPercent: the service processes a node starts get V8\'s flag too; a value out of range is refused, naming the option or the variable', async (t) => {
  t.teardown(() => setFlagsFromString('--heap-growing-percent=0')); // V8's own again, for the rest of this file
  const node = await start({ machineId: 'payload-heap', heapGrowingPercent: 300 });
  t.teardown(() => node.stop());
  t.is(node.heapGrowingPercent, 300);
  await node.spawn(Counter, { name: 'heap-process', in: 'process', module: MODULE });
  t.deepEqual(await (await node.service<Counter>('heap-process')).heapFlags(), ['--heap-growing-percent=300']);
  const plain = await start({ machineId: 'payload-heap-plain', env: { QIACT_MACHINE_ID: 'payload-heap-plain' } });
  t.teardown(() => plain.stop());
  t.is(plain.heapGrowingPercent, undefined, 'unset: V8 keeps its own');
  await plain.spawn(Counter, { name: 'plain-process', in: 'process', module: MODULE });
  t.deepEqual(await (await plain.service<Counter>('plain-process')).heapFlags(), []);
  for (const bad of [-1, 2.5, 1001, Number.NaN]) {
    await t.throwsAsync(start({ heapGrowingPercent: bad }), { instanceOf: InvalidArgumentError, message: /heapGrowingPercent/ });
  }
  await t.throwsAsync(start({ env: { QIACT_MACHINE_ID: 'x', QIACT_HEAP_GROWING_PERCENT: 'lots' } }), { instanceOf: InvalidArgumentError, message: /QIACT_HEAP_GROWING_PERCENT.*lots/ });
});

test.serial('transfer() hands a buffer over to a worker without a copy: detached here, intact there', async (t) => {
  const node = await start({ machineId: 'payload-transfer' });
  t.teardown(() => node.stop());
  await node.spawn(Counter, { name: 'worker', in: 'worker', module: MODULE });
  await node.spawn(Counter, { name: 'here' });
  const worker = await node.service<Counter>('worker');
  const frame = pattern(1024 * 1024, 8);
  const sum = checksum(frame);
  const back = (await worker.echo(transfer(frame))) as Uint8Array;
  t.is(frame.byteLength, 0, 'the sender no longer has it');
  t.is(checksum(back), sum, 'the worker had it whole');
  // An object moves what it lists; in the same thread, nothing is detached (it was never copied).
  const data = pattern(1000, 9);
  const image = { width: 10, data };
  const imageBack = (await worker.echo(transfer(image, [data.buffer as ArrayBuffer]))) as typeof image;
  t.is(data.byteLength, 0);
  t.is(checksum(imageBack.data), checksum(pattern(1000, 9)));
  const kept = pattern(1000, 10);
  const here = await node.service<Counter>('here');
  t.is(await here.echo(transfer(kept)), kept, 'same thread: the same object');
  t.is(kept.byteLength, 1000);
  t.throws(() => transfer({ width: 1 }), { instanceOf: TypeError }, 'an object needs its list');
});

test.serial('through the gateway, a client sends and gets back camera frames and laser scans in slices, beside small calls', async (t) => {
  const robot = await start({ machineId: 'payload-gateway' });
  t.teardown(() => robot.stop());
  await robot.spawn(Counter, { name: 'camera', in: 'process', module: MODULE });
  await robot.spawn(Counter, { name: 'arm' });
  const port = await freePort();
  const url = `tls://127.0.0.1:${port}`;
  const options: GatewayOptions = {
    listen: url,
    cert: certs.server.cert,
    key: certs.server.key,
    tokens: { viewer: hashToken('viewer-token') },
    permissions: { viewer: { allow: ['camera.*', 'arm.*'] } },
    allowUndeclared: true,
    limits: { maxFrame: 16 * 1024 * 1024 },
  };
  await robot.spawn(gateway(options), { name: 'Gateway' });
  const client = await connect(url, { token: 'viewer-token', ca: certs.ca, servername: 'localhost' });
  t.teardown(() => client.close());
  const camera = await client.service<Counter>('camera');
  const arm = await client.service<Counter>('arm');
  const frame = pattern(6 * 1024 * 1024, 11);
  const laser = scan(16 * 1024);
  const settled: string[] = [];
  const large = camera.echo({ frame, laser }).then((back) => {
    settled.push('large');
    return back as { frame: Uint8Array; laser: Float32Array };
  });
  const small = arm.add(3).then((n) => {
    settled.push('small');
    return n;
  });
  t.is(await within(small, 'the small call'), 3);
  const back = await within(large, 'the 6 MiB echo', 20_000);
  t.is(checksum(back.frame), checksum(frame), 'bytes intact');
  t.true(back.laser instanceof Float32Array);
  t.deepEqual(Array.from(back.laser), Array.from(laser), 'floats intact');
  t.deepEqual(settled, ['small', 'large'], 'the small call did not wait for the large one');
  // A Node client gives a large result's memory back as a node's caller does. (This test's robot
  // shares the client's thread, so the memory shows in its metrics, and the robot's own next large
  // receive may take it before the client's: that it lands there is tested for a node's caller.)
  const keptBefore = robot.metrics().memory.receiveBuffers;
  t.true(release(back.frame), "the result's memory is taken back");
  t.is(back.laser.buffer, back.frame.buffer, 'the laser scan of the same result lies in the same memory');
  t.false(release(back.laser), 'so it was taken back with the frame, once');
  const keptAfter = robot.metrics().memory.receiveBuffers;
  t.true(keptAfter - keptBefore >= frame.length, `kept for the next large payload (${keptAfter - keptBefore} bytes)`);
  const again = (await within(camera.echo({ frame: pattern(6 * 1024 * 1024, 12), laser }), 'the second 6 MiB echo', 20_000)) as { frame: Uint8Array };
  t.is(checksum(again.frame), checksum(pattern(6 * 1024 * 1024, 12)), 'the next large result intact');
});

test.serial('what one service sends one caller keeps its order: a small reply does not pass a large one from the same service', async (t) => {
  const node = await start({ machineId: 'payload-pair', listen: ['tcp:127.0.0.1:0'] });
  t.teardown(() => node.stop());
  const tcp = node.endpoints.find((e) => e.startsWith('tcp:'))!;
  await otherMachine(t, { machineId: 'payload-pair-other', directory: tcp, listen: 'tcp:127.0.0.1:0', service: 'camera' });
  const camera = await node.service<Counter>('camera');
  t.is(await camera.add(1), 1);
  const settled: string[] = [];
  const frame = pattern(12 * 1024 * 1024, 12);
  // The service answers the large call first; the small one after it, to the same caller.
  const large = camera.echo(frame).then(() => settled.push('large'));
  const small = camera.add(1).then(() => settled.push('small'));
  await within(Promise.all([large, small]), 'both calls', 20_000);
  t.deepEqual(settled, ['large', 'small']);
});
