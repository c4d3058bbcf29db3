import { Battery, motion, robotTree, TextToSpeech } from '../demo.js';
import type { MachineRemote } from '../machine-behaviour.js';
import { start } from '../start.js';
import { ServiceError } from '../errors.js';
import { formatTree } from './format.js';
import { DIRECTORY_NAME, type ServiceDirectory, type ServiceEvent } from '../../actors/directory/directory.js';

/** The embedded demo: an in-process directory, a robot service tree, calls through it. */
export async function runDemo(print: (line: string) => void): Promise<number> {
  const node = await start({ onWarning: (message) => print(`  (runtime) ${message}`) });
  try {
    print(`qiact node ${node.machineId}/${node.processId}/${node.threadId} with an embedded directory`);
    await node.supervise(robotTree, { id: 'robot' });
    print('\nSupervision tree:');
    for (const line of formatTree(await node.tree())) print(`  ${line}`);

    print('\nServices in the directory:');
    for (const s of await node.services()) print(`  #${s.serviceId} ${s.name} @ ${s.address}`);

    const battery = await node.service<Battery>('battery');
    const legs = await node.service<MachineRemote<typeof motion>>('motion');
    const tts = await node.service<TextToSpeech>('tts');

    print('\nCalls:');
    print(`  battery.level.get()       -> ${await battery.level.get()}`);
    print(`  motion.wake()             -> ${JSON.stringify(await legs.wake())}`);
    print(`  motion.walk({ steps: 3 }) -> ${JSON.stringify(await legs.walk({ steps: 3 }))}`);
    print(`  tts.say('hello')          -> ${await tts.say('hello')} ms`);
    try {
      await legs.wake();
    } catch (error) {
      if (error instanceof ServiceError) print(`  motion.wake() again       -> refused: ${error.remoteName}: ${error.remoteMessage}`);
    }

    print('\nSignals:');
    let heardLow: () => void = () => {};
    const lowHeard = new Promise<void>((resolve) => (heardLow = resolve));
    await battery.low.connect((level) => {
      print(`  battery.low -> ${level}%`);
      heardLow();
    });
    print(`  battery.drain(85)         -> ${await battery.drain(85)}`);
    await lowHeard;

    print('\nCrash and restart:');
    const directory = await node.service<ServiceDirectory>(DIRECTORY_NAME);
    let ttsAdded: (e: ServiceEvent) => void = () => {};
    const ttsBack = new Promise<ServiceEvent>((resolve) => (ttsAdded = resolve));
    await directory.serviceAdded.connect((e) => e.name === 'tts' && ttsAdded(e));
    try {
      await tts.glitch();
    } catch (error) {
      print(`  tts.glitch()              -> ${(error as Error).message}`);
    }
    const back = await ttsBack;
    print(`  the supervisor restarted tts (service id ${back.serviceId})`);
    print(`  tts.say('I am back')      -> ${await tts.say('I am back')} ms (sentences since restart: ${await tts.sentences()})`);
    print('\nSupervision tree after the restart:');
    for (const line of formatTree(await node.tree())) print(`  ${line}`);
  } finally {
    await node.stop();
  }
  print('\nstopped cleanly.');
  return 0;
}
