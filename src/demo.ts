import { assign, createMachine } from 'xstate';
import { fromMachine } from './machine-behaviour.js';
import { Refusal } from './errors.js';
import Type, { type Static } from 'typebox';
import type { ServiceSchemas } from './schemas.js';
import { Service } from './service.js';
import { supervisor } from './supervision/child-spec.js';

/** How much to drain: what `drain` takes, as a schema (checked at the doors) and as a type. */
const Percent = Type.Number({ minimum: 1, maximum: 100, description: 'how much to drain, in percent' });

/** The demo robot's battery: a level property and a `low` signal. */
export class Battery extends Service {
  static override signatures = { drain: '(percent: number) => number' };
  static override schemas = {
    methods: { drain: { params: [Percent], result: Type.Number() } },
    signals: { low: Type.Number() },
    properties: { level: Type.Number({ minimum: 0, maximum: 100 }) },
  } satisfies ServiceSchemas;
  readonly level = this.property(100);
  readonly low = this.signal<number>();
  drain(percent: Static<typeof Percent>): number {
    if (!(percent > 0 && percent <= 100)) throw new Refusal('BadPercent', `drain takes 1-100, got ${percent}`);
    this.level.value = Math.max(0, this.level.value - percent);
    if (this.level.value <= 20) this.low.emit(this.level.value);
    return this.level.value;
  }
}

/** The demo robot's legs, as an xstate machine. */
export const motion = createMachine({
  id: 'motion',
  types: {} as {
    context: { steps: number };
    events: { type: 'wake' } | { type: 'walk'; steps: number } | { type: 'stop' } | { type: 'rest' };
  },
  context: { steps: 0 },
  initial: 'resting',
  states: {
    resting: { on: { wake: 'standing' } },
    standing: {
      on: {
        walk: { target: 'walking', actions: assign({ steps: ({ context, event }) => context.steps + event.steps }) },
        rest: 'resting',
      },
    },
    walking: { on: { stop: 'standing' } },
  },
});

/** The demo robot's voice: `say` answers with the speech duration; it glitches on demand. */
export class TextToSpeech extends Service {
  readonly spoken = this.signal<string>();
  #sentences = 0;
  say(text: string): number {
    this.#sentences++;
    this.spoken.emit(text);
    return text.length * 60; // ms of speech
  }
  sentences(): number {
    return this.#sentences;
  }
  glitch(): never {
    throw new Error('audio device lost');
  }
}

/** The demo robot's service tree. */
export const robotTree = supervisor({
  strategy: 'one_for_one',
  intensity: 3,
  period: 10_000,
  children: [
    { id: 'battery', name: 'battery', start: Battery },
    { id: 'motion', name: 'motion', start: fromMachine(motion) },
    { id: 'tts', name: 'tts', start: TextToSpeech },
  ],
});

/** `qiact run dist/src/demo.js` hosts this tree in a node of its own. */
export default robotTree;
