/** A subscriber callback and who owns it (so the subscription ends when the owner stops). */
interface Subscriber<T> {
  readonly id: number;
  readonly fn: (value: T) => void;
  readonly end: (reason: string) => void;
}

/** Where signal values go to reach subscribers: after the emitter's turn, in emission order. */
export interface SignalSink {
  dispatch<T>(fn: (value: T) => void, value: T): void;
}

let nextSubscriptionId = 1;

/**
 * An event a service emits to every subscriber. Subscribers are called after the emitting
 * handler returns (never inside it), in emission order; a subscriber that throws is reported and
 * does not affect the service or the other subscribers.
 */
export class Signal<T = void> {
  #subscribers: readonly Subscriber<T>[] = [];
  #sink: SignalSink | null = null;

  /** Bound by the runtime when the owning service starts. */
  attach(sink: SignalSink): void {
    this.#sink = sink;
  }

  emit(value: T): void {
    const sink = this.#sink;
    if (sink === null) return;
    // Arrays are replaced, never mutated, on (un)subscribe: emitting while one happens is safe.
    for (const s of this.#subscribers) sink.dispatch(s.fn, value);
  }

  /** How many subscribers it has now (for introspection). */
  get subscriberCount(): number {
    return this.#subscribers.length;
  }

  subscribe(fn: (value: T) => void, end: (reason: string) => void): number {
    const id = nextSubscriptionId++;
    this.#subscribers = [...this.#subscribers, { id, fn, end }];
    return id;
  }

  unsubscribe(id: number): boolean {
    const before = this.#subscribers;
    this.#subscribers = before.filter((s) => s.id !== id);
    const gone = before.find((s) => s.id === id);
    gone?.end('unsubscribed');
    return gone !== undefined;
  }

  /** Ends every subscription: the service stopped (`reason` from `stoppedReason`). */
  close(reason: string): void {
    const subs = this.#subscribers;
    this.#subscribers = [];
    this.#sink = null;
    for (const s of subs) s.end(reason);
  }
}

/** A value a service exposes; remote handles can get, set and watch it. */
export class Property<T> {
  readonly changed = new Signal<T>();
  #value: T;

  constructor(initial: T) {
    this.#value = initial;
  }

  get value(): T {
    return this.#value;
  }

  /** Sets the value; subscribers hear of it only when it actually changed. */
  set value(next: T) {
    if (Object.is(next, this.#value)) return;
    this.#value = next;
    this.changed.emit(next);
  }
}

interface Queued {
  fn: (value: never) => void;
  value: unknown;
  next: Queued | null;
}

/**
 * The node's signal delivery queue: values reach subscribers after the emitting turn, in
 * emission order, in one microtask per burst; a throwing subscriber is reported, not propagated.
 */
export class SignalQueue implements SignalSink {
  #head: Queued | null = null;
  #tail: Queued | null = null;
  #scheduled = false;

  constructor(private readonly onError: (error: unknown) => void) {}

  dispatch<T>(fn: (value: T) => void, value: T): void {
    const item: Queued = { fn, value, next: null };
    if (this.#tail === null) this.#head = item;
    else this.#tail.next = item;
    this.#tail = item;
    if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(this.#flush);
    }
  }

  #flush = (): void => {
    this.#scheduled = false;
    let item = this.#head;
    this.#head = this.#tail = null;
    while (item !== null) {
      try {
        (item.fn as (value: unknown) => void)(item.value);
      } catch (error) {
        this.onError(error);
      }
      item = item.next;
    }
  };
}

/** Why a subscription ended because its service stopped, as subscribers are told. */
export function stoppedReason(exit: string): string {
  return `service stopped (${exit})`;
}

/** Why a subscription ended because the link to its service's node was lost. */
export function unreachableReason(message: string): string {
  return `unreachable: ${message}`;
}

/**
 * Whether a subscription that ended for `reason` ended for good: unsubscribed, or its service
 * stopped cleanly. A crash or a lost link is an interruption: the service is likely coming back.
 */
export function endedForGood(reason: string): boolean {
  if (reason.startsWith('unreachable: ')) return false;
  if (reason.startsWith('service stopped (')) return reason === stoppedReason('normal') || reason === stoppedReason('shutdown');
  return true;
}
