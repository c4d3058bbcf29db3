import test from 'ava';
import { ChildStartError, InvalidArgumentError, Service, Type, describeOf, start, supervisor, type ExitReason, type Remote, type ServiceSchemas, type Static } from '../src/index.js';
import { Collector, deferred, within } from './_support/wait.js';
import { wrongArgument } from '../src/schemas.js';

class Battery extends Service {
  readonly low = this.signal<number>();
  readonly level = this.property(100);
  drain(by: number): number {
    this.level.value -= by;
    if (this.level.value < 20) this.low.emit(this.level.value);
    return this.level.value;
  }
  crash(): void {
    throw new Error('cell failure');
  }
}

async function setup(t: { teardown(fn: () => unknown): void }) {
  const warnings: string[] = [];
  const node = await start({ machineId: 'service-test', onWarning: (m) => warnings.push(m) });
  t.teardown(() => node.stop());
  await node.spawn(Battery, { name: 'battery' });
  return { node, battery: await node.service<Battery>('battery'), warnings };
}

test('a signal reaches every subscriber, in emission order, until it unsubscribes', async (t) => {
  const { battery } = await setup(t);
  const a = new Collector<number>();
  const b = new Collector<number>();
  const subA = await battery.low.connect(a.push);
  await battery.low.connect(b.push);
  await battery.drain(85);
  await battery.drain(5);
  t.deepEqual(await a.count(2), [15, 10]);
  subA.off();
  t.is(await subA.ended, 'unsubscribed');
  await battery.drain(1);
  t.deepEqual(await b.count(3), [15, 10, 9]);
  t.deepEqual(a.values, [15, 10], 'nothing arrives after off()');
});

test('a property can be read, written and watched; watchers hear only real changes', async (t) => {
  const { battery } = await setup(t);
  const changes = new Collector<number>();
  await battery.level.connect(changes.push);
  t.is(await battery.level.get(), 100);
  await battery.level.set(50);
  await battery.level.set(50);
  await battery.drain(10);
  t.is(await battery.level.get(), 40);
  t.deepEqual(await changes.count(2), [50, 40]);
});

test('a subscription outlives a crash of its service, and ends with the reason when the service stops cleanly', async (t) => {
  const node = await start({ machineId: 'service-test', onWarning: () => {} });
  t.teardown(() => node.stop());
  const ref = await node.spawn(Battery, { name: 'battery' });
  const battery = await node.service<Battery>('battery');
  const lows = new Collector<number>();
  const sub = await battery.low.connect(lows.push);
  await t.throwsAsync(battery.crash());
  // The supervisor restarted it (level back to 100); the same subscription hears the new one.
  await battery.drain(85);
  t.deepEqual(await lows.count(1), [15]);
  await ref!.stop();
  t.is(await within(sub.ended, 'the subscription to end'), 'service stopped (shutdown)');
});

test('a subscriber that throws is reported and does not disturb the service or others', async (t) => {
  const { battery, warnings } = await setup(t);
  const good = new Collector<number>();
  await battery.low.connect(() => {
    throw new Error('bad listener');
  });
  await battery.low.connect(good.push);
  await battery.drain(90);
  t.deepEqual(await good.count(1), [10]);
  t.true(warnings.includes('a signal subscriber threw'));
  t.is(await battery.drain(1), 9);
});

class Monitor extends Service {
  readonly alerts: number[] = [];
  override async onStart(): Promise<void> {
    const battery = await this.context.service<Battery>('battery');
    await battery.low.connect((level) => this.alerts.push(level));
  }
  read(): number[] {
    return this.alerts;
  }
}

test('a service subscribes to another from onStart; its subscription ends when it stops', async (t) => {
  const { node, battery } = await setup(t);
  const ref = await node.spawn(Monitor, { name: 'monitor' });
  const monitor = await node.service<Monitor>('monitor');
  await battery.drain(85);
  await battery.level.get();
  t.deepEqual(await monitor.read(), [15]);
  await ref!.stop();
  const describe = await node.service<Battery>('battery');
  await describe.drain(1);
  t.pass('emitting after the subscriber stopped is harmless');
});

test('a service describes its methods (with parameters), signals and properties', async (t) => {
  const { node } = await setup(t);
  const info = await node.services();
  t.true(info.some((s) => s.name === 'battery'));
  class Probe extends Service {
    readonly ping = this.signal();
    echo(text: string, times = 1, ...rest: unknown[]): string {
      return text.repeat(times) + rest.length;
    }
  }
  await node.spawn(Probe, { name: 'probe' });
  const probe = await node.service<Probe>('probe');
  t.is(await probe.echo('ab', 2), 'abab0');
  t.deepEqual(Object.keys(probe).sort(), ['echo', 'ping']);
});

class Picky extends Service {
  static mode: 'ignore' | 'fail' | 'slow' = 'ignore';
  static gate = deferred();
  static stopped: ExitReason[] = [];
  override async onStart(): Promise<void | 'ignore'> {
    if (Picky.mode === 'ignore') return 'ignore';
    if (Picky.mode === 'fail') throw new RangeError('no motor found');
    await Picky.gate.promise;
  }
  override async onStop(reason: ExitReason): Promise<void> {
    Picky.stopped.push(reason);
  }
  hello(): string {
    return 'hi';
  }
}

test('onStart may decline (ignore), fail (typed start error with cause), or take its time', async (t) => {
  const { node } = await setup(t);
  Picky.mode = 'ignore';
  t.is(await node.spawn(Picky, { name: 'picky' }), null);
  Picky.mode = 'fail';
  const error = await t.throwsAsync(node.spawn(Picky, { name: 'picky' }), { instanceOf: ChildStartError });
  t.true(error.cause instanceof RangeError);
  t.regex(error.message, /no motor found/);
  Picky.mode = 'slow';
  Picky.gate = deferred();
  const spawning = node.spawn(Picky, { name: 'picky' });
  await t.throwsAsync(node.service('picky'), { message: /no service named 'picky'/ }, 'not visible before it is ready');
  Picky.gate.resolve();
  const ref = await spawning;
  const picky: Remote<Picky> = await node.service<Picky>('picky');
  t.is(await picky.hello(), 'hi');
  await ref!.stop();
  t.deepEqual(Picky.stopped, ['shutdown'], 'onStop ran, awaited, with the reason');
});

test('a borrowing list that names no method of the class is refused when the service is spawned', async (t) => {
  const { node } = await setup(t);
  class Misspelt extends Service {
    static override borrowing = ['fram'];
    frame(bytes: Uint8Array): number {
      return bytes.length;
    }
  }
  const error = await t.throwsAsync(node.spawn(Misspelt, { name: 'misspelt' }), { instanceOf: ChildStartError });
  t.true(error.cause instanceof InvalidArgumentError);
  t.regex(error.message, /Misspelt\.borrowing: names 'fram', which is not a method of Misspelt/);
});

test('context is only available once started', (t) => {
  class Early extends Service {
    peek(): unknown {
      return this.context;
    }
  }
  t.throws(() => new Early().peek(), { message: /only once the service is started/ });
});

test('a subscription keeps its place in program order with the calls made after it', async (t) => {
  const { battery } = await setup(t);
  const lows = new Collector<number>();
  const subscribed = battery.low.connect(lows.push); // not awaited on purpose
  await battery.drain(90);
  await subscribed;
  t.deepEqual(await lows.count(1), [10]);
});

test('context.onExit runs however the service ends, a brutal kill included (no onStop then)', async (t) => {
  const node = await start({ machineId: 'service-exit', onWarning: () => {} });
  t.teardown(() => node.stop());
  const log: string[] = [];
  class Port extends Service {
    override onStart(): void {
      this.context.onExit(() => log.push('released'));
    }
    override onStop(): void {
      log.push('onStop');
    }
  }
  const sup = await node.supervise(supervisor({ strategy: 'one_for_one', children: [{ id: 'port', start: Port, shutdown: 'brutal_kill' }] }));
  await sup.terminateChild('port');
  t.deepEqual(log, ['released'], 'a kill runs no onStop, but what the service owns is released');
  const ref = await node.spawn(Port, { name: 'port' });
  await ref!.stop();
  t.deepEqual(log.slice(1), ['onStop', 'released'], 'a clean stop: onStop, then the release');
});

test('a service declares its members with TypeBox: @describe gives plain JSON Schema for parameters, results, signals and properties', async (t) => {
  const Speed = Type.Object({ metresPerSecond: Type.Number({ minimum: 0, maximum: 2 }) });
  class Legs extends Service {
    static override schemas = {
      methods: { walk: { params: [Type.Integer({ minimum: 1 }), Speed], result: Type.String() } },
      signals: { stepped: Type.Integer() },
      properties: { posture: Type.Union([Type.Literal('stand'), Type.Literal('sit')]) },
    } satisfies ServiceSchemas;
    readonly stepped = this.signal<number>();
    readonly posture = this.property<'stand' | 'sit'>('stand');
    walk(steps: Static<typeof Type.Integer>, speed: Static<typeof Speed>): string {
      return `${steps} steps at ${speed.metresPerSecond} m/s`;
    }
    rest(): void {}
  }
  const node = await start({ machineId: 'schemas', onWarning: () => {} });
  t.teardown(() => node.stop());
  await node.spawn(Legs, { name: 'legs' });
  const legs = await node.service<Legs>('legs');
  const described = describeOf(legs);
  const walk = described.methods.find((m) => m.name === 'walk')!;
  t.deepEqual(walk.schema, {
    params: [{ type: 'integer', minimum: 1 }, { type: 'object', properties: { metresPerSecond: { type: 'number', minimum: 0, maximum: 2 } }, required: ['metresPerSecond'] }],
    result: { type: 'string' },
  });
  t.is(described.methods.find((m) => m.name === 'rest')!.schema, undefined, 'undeclared: no schema');
  t.deepEqual(described.schemas, { signals: { stepped: { type: 'integer' } }, properties: { posture: { anyOf: [{ const: 'stand', type: 'string' }, { const: 'sit', type: 'string' }] } } });
  t.is(Object.getOwnPropertySymbols(walk.schema!.params[0]!).length, 0, "plain JSON: TypeBox's symbols stay home");
  // What a door makes of them (schemas.ts): the first wrong argument, named down to the field.
  t.deepEqual(wrongArgument(walk.schema!.params, [3, { metresPerSecond: 5 }]), { parameter: 'args[1].metresPerSecond', problem: 'must be <= 2' });
  t.deepEqual(wrongArgument(walk.schema!.params, [0]), { parameter: 'args[0]', problem: 'must be >= 1' });
  t.deepEqual(wrongArgument(walk.schema!.params, [1]), { parameter: 'args[1]', problem: 'must be object' }, 'a missing argument is checked as undefined');
  t.deepEqual(wrongArgument(walk.schema!.params, [1, { metresPerSecond: 1 }, 'extra']), { parameter: 'args[2]', problem: 'is one too many: the method takes 2 argument(s)' });
  t.is(wrongArgument(walk.schema!.params, [1, { metresPerSecond: 1 }]), null);
  // Inside the robot the schemas are documentation: calls between the robot's own services are trusted.
  t.is(await legs.walk(3, { metresPerSecond: 1 }), '3 steps at 1 m/s');
});
