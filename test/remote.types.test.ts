/**
 * Type-level tests of Remote<T>: the `@ts-expect-error` lines fail `npm run typecheck` (run by
 * CI) if a handle ever accepts what it should refuse. The runtime part checks the same handle.
 */
import test from 'ava';
import { createMachine } from 'xstate';
import { fromMachine, Service, start, type MachineRemote, type Remote, type RemoteMethod, type Subscription } from '../src/index.js';

class Tts extends Service {
  readonly spoken = this.signal<string>();
  readonly volume = this.property(50);
  internal = 3;
  say(text: string, rate?: number): number {
    this.spoken.emit(text);
    return text.length * (rate ?? 1);
  }
  async voices(): Promise<string[]> {
    return ['en', 'fr'];
  }
  override onStart(): void {}
}

type Equal<A, B> = (<G>() => G extends A ? 1 : 2) extends <G>() => G extends B ? 1 : 2 ? true : false;
const is = <T extends true>(): T => true as T;

test('Remote<T> maps methods to promises, signals and properties to their remote forms', async (t) => {
  is<Equal<Remote<Tts>['say'], RemoteMethod<[text: string, rate?: number], number>>>();
  is<Equal<ReturnType<Remote<Tts>['voices']>, Promise<string[]>>>();
  is<Equal<Parameters<Remote<Tts>['spoken']['connect']>[0], (value: string) => void>>();
  is<Equal<ReturnType<Remote<Tts>['volume']['get']>, Promise<number>>>();
  is<Equal<keyof Remote<Tts>, 'say' | 'voices' | 'spoken' | 'volume'>>();

  const node = await start({ machineId: 'types-test' });
  t.teardown(() => node.stop());
  await node.spawn(Tts, { name: 'tts' });
  const tts = await node.service<Tts>('tts');
  const n: number = await tts.say('hello');
  t.is(n, 5);
  // Checked by the compiler, never run.
  const refusedAtCompileTime = (): void => {
    // @ts-expect-error an argument of the wrong type
    void tts.say(42);
    // @ts-expect-error too many arguments
    void tts.say('a', 1, 2);
    // @ts-expect-error fields are not exposed
    void tts.internal;
    // @ts-expect-error lifecycle hooks are not exposed
    void tts.onStart;
    // @ts-expect-error a property holds numbers
    void tts.volume.set('loud');
  };
  void refusedAtCompileTime;
  const sub: Subscription = await tts.spoken.connect((text: string) => t.is(typeof text, 'string'));
  sub.off();
  t.is(await tts.volume.get(), 50);
});

test('MachineRemote<M> has one method per event, taking its fields', async (t) => {
  const door = createMachine({
    id: 'door',
    types: {} as { events: { type: 'open'; force: boolean } | { type: 'close' } },
    initial: 'closed',
    states: { closed: { on: { open: 'opened' } }, opened: { on: { close: 'closed' } } },
  });
  const node = await start({ machineId: 'types-test' });
  t.teardown(() => node.stop());
  await node.spawn(fromMachine(door), { name: 'door' });
  const handle = await node.service<MachineRemote<typeof door>>('door');
  t.is(await handle.open({ force: false }), 'opened');
  t.is(await handle.close(), 'closed');
  const refusedAtCompileTime = (): void => {
    // @ts-expect-error `open` needs its fields
    void handle.open();
    // @ts-expect-error no such event
    void handle.lock;
  };
  void refusedAtCompileTime;
});
