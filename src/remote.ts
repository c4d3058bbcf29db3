import type { ServiceDescription } from './behaviour.js';
import type { Path } from './address.js';
import { InvalidArgumentError } from './errors.js';
import type { Property, Signal } from './signal.js';

/** Where a handle's calls go now, and by which path (`routeOf(handle)`). */
export interface Route {
  readonly service: string;
  readonly address: string;
  readonly path: Path;
}

/** Options of one call. */
export interface CallOptions {
  /** Milliseconds before the call fails with CallTimeoutError: a whole number from 1 to 2^31-1. */
  timeout?: number;
  /** Aborting it fails the call with CancelledError. */
  signal?: AbortSignal;
}

/** A live subscription to a signal or a property's changes. */
export interface Subscription {
  /** Ends the subscription; no value arrives after this returns. */
  off(): void;
  /** Resolves with why the subscription ended: 'unsubscribed', or the service stopped. */
  readonly ended: Promise<string>;
}

/** A method as seen from a handle: calling it returns a promise of the result. */
export interface RemoteMethod<A extends unknown[], R> {
  (...args: A): Promise<R>;
  /** The same method with per-call options: `counter.add.with({ timeout: 100 })(2)`. */
  with(options: CallOptions): (...args: A) => Promise<R>;
  /** Fire-and-forget: no reply, no error back; delivery in order with the other messages. */
  post(...args: A): void;
}

export interface RemoteSignal<T> {
  /** Subscribes; `listener` gets each value emitted from now on, in order. */
  connect(listener: (value: T) => void): Promise<Subscription>;
}

export interface RemoteProperty<T> extends RemoteSignal<T> {
  get(): Promise<T>;
  set(value: T): Promise<void>;
}

type Lifecycle = 'onStart' | 'onStop';

/**
 * The handle type of a service class: methods become promise-returning RemoteMethods, Signal
 * fields RemoteSignals, Property fields RemoteProperties; everything else is left out.
 */
export type Remote<T> = {
  readonly [K in keyof T as K extends Lifecycle ? never : RemoteMember<T[K]> extends never ? never : K]: RemoteMember<T[K]>;
};

/** How one member of a service class appears on its handle (`never`: not exposed). */
export type RemoteMember<M> =
  // Already remote (e.g. MachineRemote): kept as it is.
  M extends RemoteProperty<unknown> | RemoteSignal<never>
    ? M
    : M extends Property<infer V>
      ? RemoteProperty<V>
      : M extends Signal<infer V>
        ? RemoteSignal<V>
        : M extends (...args: infer A) => infer R
          ? RemoteMethod<A, Awaited<R>>
          : never;

/** What a handle needs to reach its service, wherever it lives. */
export interface HandleTarget {
  readonly name: string;
  /** Where calls go now and by which path. */
  readonly route: Route;
  call(method: string, args: unknown[], options: CallOptions | undefined): Promise<unknown>;
  post(method: string, args: unknown[]): void;
  subscribe(member: string, listener: (value: unknown) => void): Promise<Subscription>;
}

export const MAX_TIMEOUT_MS = 2 ** 31 - 1;

const ROUTE = Symbol('qiact.route');
const DESCRIPTION = Symbol('qiact.description');

/**
 * Where a handle's calls go now and by which path: `direct` (same thread), `port` (another
 * thread, MessagePort), `unix` (another process), `tcp` (another machine). For tests, the CLI
 * and debugging.
 */
/** What the service said of itself when the handle was made: methods, signals, properties. */
export function describeOf(handle: object): ServiceDescription {
  const description = (handle as { [DESCRIPTION]?: ServiceDescription })[DESCRIPTION];
  if (description === undefined) throw new InvalidArgumentError('handle', 'is not a service handle from node.service()');
  return description;
}

/** The route of `x` if it is a service handle, else undefined. */
export function routeIfHandle(x: unknown): Route | undefined {
  return typeof x === 'object' && x !== null ? (x as { [ROUTE]?: Route })[ROUTE] : undefined;
}

export function routeOf(handle: object): Route {
  const route = (handle as { [ROUTE]?: Route })[ROUTE];
  if (route === undefined) throw new InvalidArgumentError('handle', 'is not a service handle from node.service()');
  return route;
}

/** Checks call options up front, so a bad timeout fails where it was written. */
export function checkCallOptions(options: CallOptions | undefined): void {
  const t = options?.timeout;
  if (t !== undefined && !(Number.isInteger(t) && t >= 1 && t <= MAX_TIMEOUT_MS)) {
    throw new InvalidArgumentError('timeout', `${t} must be a whole number of milliseconds from 1 to ${MAX_TIMEOUT_MS}`);
  }
}

function remoteMethod(target: HandleTarget, name: string): RemoteMethod<unknown[], unknown> {
  const fn = (...args: unknown[]): Promise<unknown> => target.call(name, args, undefined);
  fn.with = (options: CallOptions) => {
    checkCallOptions(options);
    return (...args: unknown[]) => target.call(name, args, options);
  };
  fn.post = (...args: unknown[]): void => target.post(name, args);
  return fn;
}

/**
 * Builds the handle of a service from its description: own properties for the members it
 * declares (no proxy trap on the hot path), and a proxy prototype for anything else, so an
 * undeclared name still reaches the service and fails there with NoSuchMethodError. `then` is
 * never a member, so a handle is not mistaken for a promise.
 */
export function makeHandle<T>(target: HandleTarget, description: ServiceDescription): Remote<T> {
  const methods = new Map<string, RemoteMethod<unknown[], unknown>>();
  const fallback = new Proxy(Object.create(null) as object, {
    get(_, key) {
      if (typeof key !== 'string' || key === 'then') return undefined;
      let m = methods.get(key);
      if (!m) methods.set(key, (m = remoteMethod(target, key)));
      return m;
    },
  });
  const handle = Object.create(fallback) as Record<string, unknown>;
  for (const m of description.methods) handle[m.name] = remoteMethod(target, m.name);
  for (const s of description.signals) {
    handle[s] = { connect: (listener: (v: unknown) => void) => target.subscribe(s, listener) } satisfies RemoteSignal<unknown>;
  }
  for (const p of description.properties) {
    handle[p] = {
      connect: (listener: (v: unknown) => void) => target.subscribe(p, listener),
      get: () => target.call('@get', [p], undefined),
      set: async (value: unknown) => {
        await target.call('@set', [p, value], undefined);
      },
    } satisfies RemoteProperty<unknown>;
  }
  Object.defineProperty(handle, Symbol.toStringTag, { value: `Remote<${target.name}>` });
  Object.defineProperty(handle, ROUTE, { get: () => target.route });
  Object.defineProperty(handle, DESCRIPTION, { value: description });
  return Object.freeze(handle) as Remote<T>;
}
