import test from 'ava';
import { assign, createMachine } from 'xstate';
import { fromMachine, ServiceError, start, type MachineRemote } from '../src/index.js';
import { Collector, within } from './_support/wait.js';

const motion = createMachine({
  id: 'motion',
  types: {} as {
    context: { steps: number };
    events: { type: 'wake' } | { type: 'walk'; steps: number } | { type: 'rest' } | { type: 'trip' };
  },
  context: { steps: 0 },
  initial: 'sleeping',
  states: {
    sleeping: { on: { wake: 'standing' } },
    standing: {
      on: {
        walk: { target: 'walking', actions: assign({ steps: ({ context, event }) => context.steps + event.steps }) },
        rest: 'sleeping',
      },
    },
    walking: {
      on: {
        rest: 'standing',
        trip: {
          actions: () => {
            throw new Error('fell over');
          },
        },
      },
    },
  },
});

async function setup(t: { teardown(fn: () => unknown): void }, reply?: Parameters<typeof fromMachine<typeof motion>>[1]) {
  const node = await start({ machineId: 'machine-test', onWarning: () => {} });
  t.teardown(() => node.stop());
  await node.spawn(fromMachine(motion, reply), { name: 'motion' });
  return { node, motion: await node.service<MachineRemote<typeof motion>>('motion') };
}

test('calls become events; the reply is the new state', async (t) => {
  const { motion } = await setup(t);
  t.is(await motion.state.get(), 'sleeping');
  t.is(await motion.wake(), 'standing');
  t.is(await motion.walk({ steps: 3 }), 'walking');
});

test('an event the current state does not accept is refused, and the machine goes on', async (t) => {
  const { motion } = await setup(t);
  const error = await t.throwsAsync(motion.walk({ steps: 1 }), { instanceOf: ServiceError });
  t.is(error.remoteName, 'EventNotAccepted');
  t.deepEqual(error.data, { state: 'sleeping', event: 'walk' });
  t.is(await motion.wake(), 'standing');
});

test('the state property signals every transition', async (t) => {
  const { motion } = await setup(t);
  const states = new Collector<unknown>();
  await motion.state.connect(states.push);
  await motion.wake();
  await motion.walk({ steps: 2 });
  await motion.rest();
  t.deepEqual(await states.count(3), ['standing', 'walking', 'standing']);
});

test('an error inside the machine crashes the service; its supervisor restarts it from the initial state', async (t) => {
  const { motion } = await setup(t);
  await motion.wake();
  await motion.walk({ steps: 2 });
  await t.throwsAsync(motion.trip(), { instanceOf: ServiceError, message: /fell over/ });
  t.is(await within(motion.state.get(), 'the restarted machine'), 'sleeping');
});

test('a custom reply reads from the snapshot', async (t) => {
  const { motion } = await setup(t, { reply: (snapshot) => snapshot.context.steps });
  await motion.wake();
  t.is((await motion.walk({ steps: 4 })) as unknown, 4);
});
