import type { BehaviourFactory } from '../behaviour.js';
import { InvalidChildSpecError } from '../errors.js';
import { Mailbox, type MailboxOptions } from '../mailbox.js';
import { isServiceClass, type ServiceClass } from '../service.js';

export type RestartType = 'permanent' | 'transient' | 'temporary';
/** Milliseconds to wait for a clean stop before killing, or `brutal_kill`, or `infinity`. */
export type ShutdownPolicy = number | 'brutal_kill' | 'infinity';
export type Strategy = 'one_for_one' | 'one_for_all' | 'rest_for_one' | 'dynamic';
/** Where a child lives: this thread, a new worker thread, or a new child process. */
export type Placement = 'thread' | 'worker' | 'process';

/** A supervisor to start as a child (or as a tree root); made by {@link supervisor}. */
export interface SupervisorSpec {
  readonly kind: 'supervisor';
  readonly strategy: Strategy;
  /** Most restarts allowed within `period` before the supervisor gives up. OTP default 1. */
  readonly intensity: number;
  /** The intensity window in milliseconds. OTP default 5000. */
  readonly period: number;
  readonly children: readonly ChildSpec[];
}

/** What a child runs: a service class, a behaviour factory (e.g. `fromMachine`), or a supervisor. */
export type Startable = ServiceClass | BehaviourFactory | SupervisorSpec;

export interface ChildSpec {
  /** Unique among its siblings; names the child in errors and in the tree. */
  readonly id: string;
  readonly start: Startable;
  /** Registers the child in the directory under this service name. */
  readonly name?: string;
  /** permanent: always restarted; transient: only after an abnormal exit; temporary: never. Default permanent. */
  readonly restart?: RestartType;
  /** Default 5000 ms for workers, `infinity` for supervisors. */
  readonly shutdown?: ShutdownPolicy;
  readonly mailbox?: MailboxOptions;
  /** Default `thread`. */
  readonly in?: Placement;
  /**
   * For `in: 'worker' | 'process'`: the module that exports `start` (usually `import.meta.url`),
   * since a class cannot be sent to another thread or process; the child imports it there.
   */
  readonly module?: string | URL;
  /** The export of `module` to start; default the class name. */
  readonly export?: string;
}

/** A child spec with every default filled in, checked. */
export interface Child {
  readonly id: string;
  readonly start: Startable;
  readonly name: string | undefined;
  readonly restart: RestartType;
  readonly shutdown: ShutdownPolicy;
  readonly mailbox: MailboxOptions | undefined;
  readonly in: Placement;
  /** Where a child placed in a worker or process is loaded from (undefined in-thread). */
  readonly module: string | undefined;
  readonly export: string | undefined;
  readonly type: 'worker' | 'supervisor';
  /** Class, machine or strategy name, for the tree. */
  readonly label: string;
}

const RESTARTS: readonly RestartType[] = ['permanent', 'transient', 'temporary'];
const STRATEGIES: readonly Strategy[] = ['one_for_one', 'one_for_all', 'rest_for_one', 'dynamic'];
const PLACEMENTS: readonly Placement[] = ['thread', 'worker', 'process'];
const NAME = /^[^\s/]{1,256}$/;

export function isSupervisorSpec(x: unknown): x is SupervisorSpec {
  return typeof x === 'object' && x !== null && (x as SupervisorSpec).kind === 'supervisor';
}

function isBehaviourFactory(x: unknown): x is BehaviourFactory {
  return typeof x === 'object' && x !== null && (x as BehaviourFactory).kind === 'behaviour' && typeof (x as BehaviourFactory).create === 'function';
}

/** Checks a service name: 1-256 characters, no white space, no '/'. */
export function isServiceName(x: unknown): x is string {
  return typeof x === 'string' && NAME.test(x);
}

function invalid(id: string, field: string, reason: string): never {
  throw new InvalidChildSpecError(id, field, reason);
}

/**
 * Validates a child spec up front; the error names the child and the bad field. `generatedId`:
 * the id a dynamic supervisor gives a spec that has none.
 */
export function checkChildSpec(spec: unknown, generatedId?: string): Child {
  if (typeof spec !== 'object' || spec === null) throw new InvalidChildSpecError('?', 'spec', 'must be an object');
  const s = spec as Record<string, unknown>;
  const id = generatedId ?? s.id;
  if (typeof id !== 'string' || id.length === 0 || id.length > 128) {
    throw new InvalidChildSpecError(String(id), 'id', 'must be a string of 1-128 characters');
  }
  const start = s.start;
  let type: Child['type'] = 'worker';
  let label: string;
  if (isServiceClass(start)) label = start.name;
  else if (isBehaviourFactory(start)) label = start.label;
  else if (isSupervisorSpec(start)) {
    type = 'supervisor';
    label = `supervisor(${start.strategy})`;
  } else {
    return invalid(id, 'start', 'must be a Service class, a behaviour factory (fromMachine) or a supervisor(...) spec');
  }
  if (s.name !== undefined && !isServiceName(s.name)) invalid(id, 'name', `'${String(s.name)}' must be 1-256 characters without spaces or '/'`);
  const restart = s.restart ?? 'permanent';
  if (!RESTARTS.includes(restart as RestartType)) invalid(id, 'restart', `'${String(restart)}' must be one of ${RESTARTS.join(', ')}`);
  const shutdown = s.shutdown ?? (type === 'supervisor' ? 'infinity' : 5000);
  if (!(shutdown === 'brutal_kill' || shutdown === 'infinity' || (Number.isInteger(shutdown) && (shutdown as number) >= 0))) {
    invalid(id, 'shutdown', `'${String(shutdown)}' must be a whole number of milliseconds >= 0, 'brutal_kill' or 'infinity'`);
  }
  const placement = s.in ?? 'thread';
  if (!PLACEMENTS.includes(placement as Placement)) invalid(id, 'in', `'${String(placement)}' must be one of ${PLACEMENTS.join(', ')}`);
  let module: string | undefined;
  let exported: string | undefined;
  if (placement !== 'thread') {
    const m = s.module;
    if (!(typeof m === 'string' || m instanceof URL) || String(m) === '') {
      invalid(id, 'module', `is needed with in: '${String(placement)}': the module exporting ${label} (e.g. import.meta.url), which the new ${placement === 'worker' ? 'thread' : 'process'} imports`);
    }
    module = m instanceof URL ? m.href : (m as string);
    exported = (s.export as string | undefined) ?? (isServiceClass(start) ? start.name : undefined);
    if (typeof exported !== 'string' || exported === '') invalid(id, 'export', `names the export of ${module} to start; needed when start is not a class`);
  }
  if (s.mailbox !== undefined) {
    try {
      new Mailbox(s.mailbox as MailboxOptions);
    } catch (error) {
      invalid(id, 'mailbox', error instanceof Error ? error.message : 'must be { capacity?, overflow? }');
    }
  }
  return {
    id,
    start: start as Startable,
    name: s.name as string | undefined,
    restart: restart as RestartType,
    shutdown: shutdown as ShutdownPolicy,
    mailbox: s.mailbox as MailboxOptions | undefined,
    in: placement as Placement,
    module,
    export: exported,
    type,
    label,
  };
}

/**
 * Makes a supervisor spec, checked up front: strategy, restart intensity and the children's
 * specs (unique ids). Defaults are OTP's: one_for_one, 1 restart in 5 seconds.
 */
export function supervisor(options: {
  strategy?: Strategy;
  intensity?: number;
  period?: number;
  children?: readonly ChildSpec[];
} = {}): SupervisorSpec {
  const strategy = options.strategy ?? 'one_for_one';
  const where = 'supervisor';
  if (!STRATEGIES.includes(strategy)) throw new InvalidChildSpecError(where, 'strategy', `'${String(strategy)}' must be one of ${STRATEGIES.join(', ')}`);
  const intensity = options.intensity ?? 1;
  if (!Number.isInteger(intensity) || intensity < 0) throw new InvalidChildSpecError(where, 'intensity', `${intensity} must be a whole number >= 0`);
  const period = options.period ?? 5000;
  if (!Number.isInteger(period) || period < 1) throw new InvalidChildSpecError(where, 'period', `${period} must be a whole number of milliseconds >= 1`);
  const children = options.children ?? [];
  if (!Array.isArray(children)) throw new InvalidChildSpecError(where, 'children', 'must be an array of child specs');
  if (strategy === 'dynamic' && children.length > 0) {
    throw new InvalidChildSpecError(where, 'children', 'a dynamic supervisor starts empty; add children with startChild');
  }
  const seen = new Set<string>();
  for (const c of children) {
    const child = checkChildSpec(c);
    if (seen.has(child.id)) throw new InvalidChildSpecError(child.id, 'id', 'is used by two children');
    seen.add(child.id);
  }
  return Object.freeze({ kind: 'supervisor', strategy, intensity, period, children: Object.freeze([...children]) });
}
