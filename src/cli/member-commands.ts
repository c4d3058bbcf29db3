import { NoSuchMethodError } from '../errors.js';
import type { Node } from '../node.js';
import { describeOf, type RemoteMethod, type RemoteProperty, type RemoteSignal } from '../remote.js';
import { formatValue } from './format.js';
import { jsonArgs, joinRobot, memberOf, untilInterrupted, withRobot, type RobotOptions } from './session.js';

type Print = (line: string) => void;
type Handle = Record<string, unknown>;

async function handleOf(node: Node, service: string): Promise<Handle> {
  return (await node.service(service)) as unknown as Handle;
}

function show(value: unknown, options: RobotOptions, print: Print): void {
  print(options.json ? JSON.stringify(value === undefined ? null : value) : formatValue(value));
}

/** A property of the handle, or a clear error listing what the service has. */
function propertyOf(handle: Handle, service: string, name: string): RemoteProperty<unknown> {
  const { properties } = describeOf(handle);
  if (!properties.includes(name)) throw new NoSuchMethodError({ service, method: `property ${name}`, address: '' }, [...properties]);
  return handle[name] as RemoteProperty<unknown>;
}

/** `qiact call <service>.<method> [args...]`: prints the result. */
export function call(target: string, args: readonly string[], options: RobotOptions, print: Print, warn: Print): Promise<number> {
  const { service, member } = memberOf(target, 'method');
  const values = jsonArgs(args);
  return withRobot(options, warn, async (node) => {
    const method = (await handleOf(node, service))[member] as RemoteMethod<unknown[], unknown>;
    show(await method(...values), options, print);
    return 0;
  });
}

/** `qiact post <service>.<method> [args...]`: fire and forget (sent before the command ends). */
export function post(target: string, args: readonly string[], options: RobotOptions, _print: Print, warn: Print): Promise<number> {
  const { service, member } = memberOf(target, 'method');
  const values = jsonArgs(args);
  return withRobot(options, warn, async (node) => {
    ((await handleOf(node, service))[member] as RemoteMethod<unknown[], unknown>).post(...values);
    return 0;
  });
}

/** `qiact get <service>.<property>`. */
export function get(target: string, options: RobotOptions, print: Print, warn: Print): Promise<number> {
  const { service, member } = memberOf(target, 'property');
  return withRobot(options, warn, async (node) => {
    show(await propertyOf(await handleOf(node, service), service, member).get(), options, print);
    return 0;
  });
}

/** `qiact set <service>.<property> <value>`. */
export function set(target: string, value: string, options: RobotOptions, _print: Print, warn: Print): Promise<number> {
  const { service, member } = memberOf(target, 'property');
  const [parsed] = jsonArgs([value]);
  return withRobot(options, warn, async (node) => {
    await propertyOf(await handleOf(node, service), service, member).set(parsed);
    return 0;
  });
}

/**
 * `qiact watch <service>.<signal>`: prints each value as it arrives, until Ctrl-C (exit 0) or
 * until the service stops for good (exit 1). Crashes and restarts of the service, and of the
 * directory, do not end it: the subscription is made again when the service is back.
 */
export async function watch(target: string, options: RobotOptions, print: Print, warn: Print): Promise<number> {
  const { service, member } = memberOf(target, 'signal');
  const node = await joinRobot(options, warn);
  try {
    const handle = await handleOf(node, service);
    const { signals, properties } = describeOf(handle);
    if (!signals.includes(member) && !properties.includes(member)) {
      throw new NoSuchMethodError({ service, method: `signal ${member}`, address: '' }, [...signals, ...properties]);
    }
    const sub = await (handle[member] as RemoteSignal<unknown>).connect((value) => {
      if (options.json) print(JSON.stringify({ time: new Date().toISOString(), service, signal: member, value: value === undefined ? null : value }));
      else print(`${new Date().toISOString().slice(11, 23)} ${service}.${member} ${formatValue(value)}`);
    });
    // Ready: said on stderr so that stdout holds values only.
    warn(`qiact: watching ${service}.${member} (Ctrl-C to stop)`);
    const ended = sub.ended.then((reason) => ({ reason }));
    const outcome = await Promise.race([untilInterrupted().then(() => null), ended]);
    if (outcome === null) {
      sub.off();
      return 0;
    }
    warn(`qiact: ${service}.${member} ended: ${outcome.reason}`);
    return 1;
  } finally {
    await node.stop();
  }
}
