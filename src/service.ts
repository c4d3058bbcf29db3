import type { Actor, ExitReason } from './actor.js';
import type { Address } from './address.js';
import type { Caller } from './caller.js';
import type { TSchema } from 'typebox';
import { jsonSchema, type JsonSchema, type ServiceSchemas } from './schemas.js';
import type { Behaviour, BehaviourFactory, MethodDescription, ServiceDescription } from './behaviour.js';
import { BadArgumentsError, InvalidArgumentError, NoSuchMethodError } from './errors.js';
import type { CallOptions, Remote } from './remote.js';
import { Property, Signal, stoppedReason, type SignalSink } from './signal.js';
import { receiveBuffers } from './transport/receive-buffers.js';

/** What a running service can reach: itself and the rest of the system. */
export interface ServiceContext {
  readonly self: Address;
  readonly name: string | undefined;
  /** A typed handle on another service; subscriptions made through it end when this service stops. */
  service<T>(name: string, options?: CallOptions): Promise<Remote<T>>;
  /**
   * A typed handle on one actor by its address (an unnamed child, as `startChild` gives it);
   * it does not follow restarts: see Node.serviceAt.
   */
  serviceAt<T>(address: Address | string, options?: CallOptions): Promise<Remote<T>>;
  /**
   * Stops this service with a normal exit once the current message is handled (a `permanent`
   * child is still restarted by its supervisor, a `transient` one is not).
   */
  stop(): void;
  /** Reports something a person should know (through the node's `onWarning`; stderr by default). */
  warn(message: string, error?: unknown): void;
  /**
   * Runs `fn` once this run of the service has ended, however it ended (a clean stop, a crash,
   * or a kill, which runs no `onStop`): for what must go with it, as an Erlang port goes with
   * its process (a listening socket, a login). Returns a function that cancels it.
   */
  onExit(fn: () => void): () => void;
  /**
   * Who sent the message being handled: its node as proven on the link it came on (or this
   * node), and that link's number. Known only in the synchronous part of a method: read it
   * before the first `await`.
   */
  caller(): Caller;
}

/** Binds a service instance to its running actor; supplied by the node. */
export interface ServiceHost extends SignalSink {
  contextFor(actor: Actor): ServiceContext;
}

/**
 * Binds a service to the behaviour running it, which makes its context on first use. A field of
 * the instance, not a WeakMap: a million actors in a WeakMap cost the garbage collector dearly.
 */
let bindRunning: (service: Service, behaviour: ServiceBehaviour) => void;

/**
 * Base class of a plain service. Its public methods are the service's methods; fields made with
 * `this.signal()` and `this.property()` are its signals and properties. State lives in fields and
 * is made afresh (a new instance) each time a supervisor restarts the service.
 *
 * ```ts
 * class Counter extends Service {
 *   readonly changed = this.signal<number>();
 *   #n = 0;
 *   add(by: number) { this.#n += by; this.changed.emit(this.#n); return this.#n; }
 * }
 * ```
 *
 * A method may be async: the service handles its next message once the promise settles. To
 * refuse a call without crashing, throw a `Refusal`; any other error also crashes the service.
 */
export abstract class Service {
  /**
   * Optional types of the methods, for `@describe` and `qiact info` (TypeScript's types are gone
   * at run time): `static override signatures = { add: '(by: number) => number' }`.
   */
  static signatures?: Readonly<Record<string, string>>;

  /**
   * Optional JSON Schemas (TypeBox) of the methods' parameters and of the signals and
   * properties: shown by `@describe`, and what the doors check arguments from outside against
   * (see schemas.ts).
   */
  static schemas?: ServiceSchemas;

  /**
   * Methods that borrow their arguments' bytes: they read them only until their call is over (a
   * returned promise settles), and neither keep them nor put them in their result or in a message
   * sent on. A large payload that came from another node (unix, tcp, tls) is then received into
   * the same memory again, with no new allocation (see "Camera frames" in the README). Copy what
   * you keep: `frame.slice()`.
   */
  static borrowing?: readonly string[];

  #running: ServiceBehaviour | undefined = undefined;
  static {
    bindRunning = (service, behaviour) => (service.#running = behaviour);
  }

  /** This service's place in the system; available from `onStart` on. */
  protected get context(): ServiceContext {
    const ctx = this.#running?.context;
    if (!ctx) throw new InvalidArgumentError('context', 'a service context exists only once the service is started (use it from onStart on)');
    return ctx;
  }

  protected signal<T = void>(): Signal<T> {
    return new Signal<T>();
  }

  protected property<T>(initial: T): Property<T> {
    return new Property<T>(initial);
  }

  /** Runs before the first message. Throw to fail the start; return 'ignore' to decline it. */
  onStart?(): void | 'ignore' | Promise<void | 'ignore'>;
  /**
   * Runs when the service stops: after a clean stop (awaited; `reason` is 'normal' or 'shutdown')
   * and after a crash (`reason` is the error; not awaited), as OTP's `terminate/2`. A kill runs
   * none: what must go however the service ends belongs in `context.onExit`.
   */
  onStop?(reason: ExitReason): void | Promise<void>;
}

export type ServiceClass<S extends Service = Service> = new () => S;

export function isServiceClass(x: unknown): x is ServiceClass {
  return typeof x === 'function' && x.prototype instanceof Service;
}

interface MethodEntry {
  readonly fn: (...args: unknown[]) => unknown;
  /** Declared parameters; Infinity with a rest parameter. */
  readonly max: number;
  /** Listed in the class's `borrowing`: gives back the memory of its received arguments when done. */
  readonly borrows: boolean;
  readonly description: MethodDescription;
}

const LIFECYCLE = new Set(['constructor', 'onStart', 'onStop']);
const methodTables = new WeakMap<ServiceClass, Map<string, MethodEntry>>();

/**
 * Types a service declares for introspection (TypeScript's types are gone at run time):
 * `static signatures = { add: '(by: number) => number' }`.
 */
function signaturesOf(cls: ServiceClass): Record<string, unknown> {
  const declared: unknown = (cls as unknown as typeof Service).signatures;
  return typeof declared === 'object' && declared !== null ? (declared as Record<string, unknown>) : {};
}

function schemasOf(cls: ServiceClass): ServiceSchemas {
  const declared: unknown = (cls as unknown as typeof Service).schemas;
  return typeof declared === 'object' && declared !== null ? (declared as ServiceSchemas) : {};
}

/** The methods of a service class, with their arity, read once per class. */
function methodsOf(cls: ServiceClass): Map<string, MethodEntry> {
  let table = methodTables.get(cls);
  if (table) return table;
  table = new Map();
  const borrowing = borrowingOf(cls);
  for (let proto = cls.prototype; proto && proto !== Service.prototype; proto = Object.getPrototypeOf(proto)) {
    for (const name of Object.getOwnPropertyNames(proto)) {
      if (LIFECYCLE.has(name) || name.startsWith('_') || table.has(name)) continue;
      const d = Object.getOwnPropertyDescriptor(proto, name);
      if (typeof d?.value !== 'function') continue;
      const fn = d.value as (...args: unknown[]) => unknown;
      const params = parameterNames(fn);
      const rest = params.some((p) => p.startsWith('...'));
      const signature = signaturesOf(cls)[name];
      const declared = schemasOf(cls).methods?.[name];
      const schema = declared === undefined ? undefined : { params: declared.params.map(jsonSchema), ...(declared.result ? { result: jsonSchema(declared.result) } : {}) };
      const description = { name, params, ...(typeof signature === 'string' ? { signature } : {}), ...(schema ? { schema } : {}) };
      table.set(name, { fn, max: rest ? Infinity : params.length, borrows: borrowing.includes(name), description });
    }
  }
  for (const name of borrowing) {
    if (!table.has(name)) throw new InvalidArgumentError(`${cls.name}.borrowing`, `names '${String(name)}', which is not a method of ${cls.name}`);
  }
  methodTables.set(cls, table);
  return table;
}

function borrowingOf(cls: ServiceClass): readonly string[] {
  const declared: unknown = (cls as unknown as typeof Service).borrowing;
  if (declared === undefined) return [];
  if (!Array.isArray(declared)) throw new InvalidArgumentError(`${cls.name}.borrowing`, 'must be a list of method names');
  return declared as string[];
}

/**
 * Parameter names from a function's source: enough to check argument counts and to describe
 * the method. Destructured parameters are shown as `{…}` / `[…]`.
 */
export function parameterNames(fn: Function): string[] {
  const src = Function.prototype.toString.call(fn);
  const open = src.indexOf('(');
  if (open < 0) return [];
  const params: string[] = [];
  let depth = 0;
  let start = open + 1;
  let quote = '';
  for (let i = open + 1; i < src.length; i++) {
    const c = src[i]!;
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = '';
      continue;
    }
    if (c === '"' || c === "'" || c === '`') quote = c;
    else if (c === '(' || c === '[' || c === '{') depth++;
    else if (c === ')' || c === ']' || c === '}') {
      if (depth === 0) {
        params.push(src.slice(start, i));
        break;
      }
      depth--;
    } else if (c === ',' && depth === 0) {
      params.push(src.slice(start, i));
      start = i + 1;
    }
  }
  return params
    .map((p) => p.trim().split('=')[0]!.trim())
    .filter((p) => p !== '')
    .map((p) => (p.startsWith('{') ? '{…}' : p.startsWith('[') ? '[…]' : p));
}

const NO_MEMBERS: ReadonlyMap<string, never> = new Map<string, never>();

/** Runs a Service instance as an actor behaviour. */
export class ServiceBehaviour implements Behaviour {
  readonly #methods: Map<string, MethodEntry>;
  readonly #signals: ReadonlyMap<string, Signal<unknown>>;
  readonly #properties: ReadonlyMap<string, Property<unknown>>;
  #actor: Actor | undefined;
  /** Made when the service first asks for it: most actors never do, and it holds seven closures. */
  #context: ServiceContext | undefined;

  constructor(
    readonly instance: Service,
    private readonly host: ServiceHost,
  ) {
    this.#methods = methodsOf(instance.constructor as ServiceClass);
    let signals: Map<string, Signal<unknown>> | null = null;
    let properties: Map<string, Property<unknown>> | null = null;
    // for-in rather than Object.entries: no array per actor. A class's methods are not enumerable.
    for (const key in instance) {
      const value: unknown = instance[key as keyof Service];
      if (value instanceof Property) (properties ??= new Map()).set(key, value);
      else if (value instanceof Signal) (signals ??= new Map()).set(key, value);
    }
    // Most actors have neither: they share one empty map instead of holding two of their own.
    this.#signals = signals ?? NO_MEMBERS;
    this.#properties = properties ?? NO_MEMBERS;
  }

  start(actor: Actor): unknown {
    this.#actor = actor;
    this.#context = undefined;
    bindRunning(this.instance, this);
    for (const s of this.#signals.values()) s.attach(this.host);
    for (const p of this.#properties.values()) p.changed.attach(this.host);
    return this.instance.onStart?.();
  }

  /** This service's context, once started. */
  get context(): ServiceContext | undefined {
    if (this.#actor === undefined) return undefined;
    return (this.#context ??= this.host.contextFor(this.#actor));
  }

  #lastName = '';
  #last: MethodEntry | undefined;

  /** Runs a method that borrows `args`: once its call is over, their memory takes a later payload. */
  #borrowing(m: MethodEntry, args: unknown[]): unknown {
    let result: unknown;
    try {
      result = m.fn.apply(this.instance, args);
    } catch (error) {
      receiveBuffers.giveBack(args);
      throw error;
    }
    if (typeof (result as PromiseLike<unknown> | null | undefined)?.then !== 'function') {
      receiveBuffers.giveBack(args);
      return result;
    }
    return Promise.resolve(result).finally(() => receiveBuffers.giveBack(args));
  }

  handle(method: string, args: unknown[]): unknown {
    // Callers tend to repeat a method: a string compare is cheaper than the map look-up.
    const m = method === this.#lastName ? this.#last : (this.#last = this.#methods.get((this.#lastName = method)));
    if (m !== undefined) {
      // Only too many can be told: TypeScript's optional parameters look required at run time.
      if (args.length > m.max) throw new BadArgumentsError(this.#actor!.target(method), `at most ${m.max}`, args.length);
      if (m.borrows) return this.#borrowing(m, args);
      return m.fn.apply(this.instance, args);
    }
    return this.#system(method, args);
  }

  /** Members every service has: describe, and property / signal access. */
  #system(method: string, args: unknown[]): unknown {
    switch (method) {
      case '@describe':
        return this.describe();
      case '@get':
        return this.#property(method, args[0]).value;
      case '@set':
        this.#property(method, args[0]).value = args[1];
        return null; // not undefined: some CBOR libraries cannot read CBOR's undefined
      case '@subscribe': {
        const signal = this.#signal(method, args[0]);
        return signal.subscribe(args[1] as (v: unknown) => void, args[2] as (reason: string) => void);
      }
      case '@unsubscribe':
        return this.#signal(method, args[0]).unsubscribe(args[1] as number);
    }
    throw new NoSuchMethodError(this.#actor!.target(method), [...this.#methods.keys()]);
  }

  #property(method: string, name: unknown): Property<unknown> {
    const p = this.#properties.get(name as string);
    if (!p) throw new NoSuchMethodError(this.#actor!.target(`${method} ${String(name)}`), [...this.#properties.keys()]);
    return p;
  }

  #signal(method: string, name: unknown): Signal<unknown> {
    const s = this.#signals.get(name as string) ?? this.#properties.get(name as string)?.changed;
    if (!s) throw new NoSuchMethodError(this.#actor!.target(`${method} ${String(name)}`), [...this.#signals.keys(), ...this.#properties.keys()]);
    return s;
  }

  describe(): ServiceDescription {
    const declared = schemasOf(this.instance.constructor as ServiceClass);
    const only = (table: Readonly<Record<string, TSchema>> | undefined, names: Iterable<string>): Record<string, JsonSchema> =>
      Object.fromEntries([...names].filter((n) => table?.[n] !== undefined).map((n) => [n, jsonSchema(table![n]!)]));
    const described: ServiceDescription = {
      methods: [...this.#methods.values()].map((m) => m.description),
      signals: [...this.#signals.keys()],
      properties: [...this.#properties.keys()],
    };
    if (declared.signals === undefined && declared.properties === undefined) return described;
    return { ...described, schemas: { signals: only(declared.signals, this.#signals.keys()), properties: only(declared.properties, this.#properties.keys()) } };
  }

  terminate(reason: ExitReason): unknown {
    this.#close(reason);
    return this.instance.onStop?.(reason);
  }

  kill(): void {
    this.#close('killed');
  }

  #close(reason: ExitReason): void {
    const text = reason instanceof Error ? reason.message : reason;
    for (const s of this.#signals.values()) s.close(stoppedReason(text));
    for (const p of this.#properties.values()) p.changed.close(stoppedReason(text));
  }
}

/** A factory for a service class, so that each (re)start gets a fresh instance. */
export function serviceFactory(cls: ServiceClass, host: ServiceHost): BehaviourFactory {
  return { kind: 'behaviour', label: cls.name, create: () => new ServiceBehaviour(new cls(), host) };
}
