import test from 'ava';
import { Address, InvalidAddressError, type ActorId } from '../src/index.js';

const a = (m: string, p: number, t: number, id: number) => new Address(m, p, t, id as ActorId);

test('the canonical text form parses back to an equal address', (t) => {
  for (const addr of [a('robot-head', 1234, 0, 1), a('0f6c1f0e-5d3a-4b6e-9c1d-2f3e4a5b6c7d', 99999, 7, 123456789), a('m:1', 0, 0, 0)]) {
    const text = addr.toString();
    t.is(text, `${addr.machineId}/${addr.processId}/${addr.threadId}/${addr.actorId}`);
    const back = Address.parse(text);
    t.true(back.equals(addr));
    t.deepEqual([back.machineId, back.processId, back.threadId, back.actorId], [addr.machineId, addr.processId, addr.threadId, addr.actorId]);
    t.is(JSON.stringify({ to: addr }), `{"to":"${text}"}`);
  }
});

test('parse refuses malformed text and names the bad part', (t) => {
  const cases: [string, RegExp][] = [
    ['robot/1/2', /expected machineId\/processId\/threadId\/actorId/],
    ['robot/1/2/3/4', /expected/],
    ['robot/x/2/3', /processId 'x' is not a decimal integer/],
    ['robot/1/-2/3', /threadId '-2'/],
    ['robot/1/2/03', /actorId '03'/],
    ['/1/2/3', /machineId must be/],
    ['ro bot/1/2/3', /machineId must be/],
  ];
  for (const [text, message] of cases) {
    const error = t.throws(() => Address.parse(text), { instanceOf: InvalidAddressError, message });
    t.is(error?.code, 'INVALID_ADDRESS');
    t.is(error?.text, text);
  }
  t.throws(() => a('m', -1, 0, 0), { instanceOf: InvalidAddressError, message: /processId must be a non-negative integer/ });
});

test('locality of two addresses decides the path: thread, process, machine', (t) => {
  const here = a('head', 10, 0, 1);
  t.is(here.localityOf(a('head', 10, 0, 2)), 'same-thread');
  t.is(here.localityOf(a('head', 10, 3, 2)), 'same-process');
  t.is(here.localityOf(a('head', 11, 0, 2)), 'same-machine');
  t.is(here.localityOf(a('body', 10, 0, 2)), 'other-machine');
});
