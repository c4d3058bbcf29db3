import { NoSuchMethodError } from '../errors.js';
import { describeOf, type RemoteMethod, type RemoteProperty, type RemoteSignal } from '../remote.js';
import { formatValue } from './format.js';
import { openRobot, withRobot, type GatewayCliOptions, type Robot } from './robot.js';
import { jsonArgs, memberOf, untilInterrupted, type RobotOptions as CommonOptions } from './session.js';

type Print = (line: string) => void;
type Handle = Record<string, unknown>;
type RobotOptions = CommonOptions & GatewayCliOptions;

async function handleOf(robot: Robot, service: string): Promise<Handle> {
  return (await robot.service(service)) as unknown as Handle;
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
  return withRobot(options, warn, async (robot) => {
    const method = (await handleOf(robot, service))[member] as RemoteMethod<unknown[], unknown>;
    show(await method(...values), options, print);
    return 0;
  });
}

/** `qiact post <service>.<method> [args...]`: fire and forget (sent before the command ends). */
export function post(target: string, args: readonly string[], options: RobotOptions, _print: Print, warn: Print): Promise<number> {
  const { service, member } = memberOf(target, 'method');
  const values = jsonArgs(args);
  return withRobot(options, warn, async (robot) => {
    ((await handleOf(robot, service))[member] as RemoteMethod<unknown[], unknown>).post(...values);
    return 0;
  });
}

/** `qiact get <service>.<property>`. */
export function get(target: string, options: RobotOptions, print: Print, warn: Print): Promise<number> {
  const { service, member } = memberOf(target, 'property');
  return withRobot(options, warn, async (robot) => {
    show(await propertyOf(await handleOf(robot, service), service, member).get(), options, print);
    return 0;
  });
}

/** `qiact set <service>.<property> <value>`. */
export function set(target: string, value: string, options: RobotOptions, _print: Print, warn: Print): Promise<number> {
  const { service, member } = memberOf(target, 'property');
  const [parsed] = jsonArgs([value]);
  return withRobot(options, warn, async (robot) => {
    await propertyOf(await handleOf(robot, service), service, member).set(parsed);
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
  const robot = await openRobot(options, warn);
  try {
    const handle = await handleOf(robot, service);
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
    await robot.close();
  }
}
