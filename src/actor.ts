import { handling } from './caller.js';
import type { Address } from './address.js';
import { IGNORE, isRefusal, type Behaviour } from './behaviour.js';
import { PENDING, SETTLED, type Envelope } from './envelope.js';
import { MailboxFullError, QiactError, ReceiverStoppedError, ServiceError, type CallTarget } from './errors.js';
import type { Registered } from './directory/entries.js';
import type { Mailbox } from './mailbox.js';
import { Histogram } from './observe/histogram.js';
import { endSpan, ROOT_CONTEXT, runIn, startServerSpan, tracingState, type Span } from './observe/tracing.js';
import type { PendingCalls } from './pending-calls.js';
import type { SignalSink } from './signal.js';

/**
 * Why an actor stopped. `normal` and `shutdown` are clean exits; anything else is abnormal:
 * `killed` (forced stop), `noproc` (it was already gone when watched), `noconnection` (the link
 * to its node was lost), or the crash error.
 */
export type ExitReason = 'normal' | 'shutdown' | 'killed' | 'noproc' | 'noconnection' | Error;

/** The notice a monitor receives when the watched actor stops. */
export interface Down {
  readonly address: Address;
  readonly name: string | undefined;
  readonly reason: ExitReason;
}

export function isAbnormal(reason: ExitReason): boolean {
  return reason !== 'normal' && reason !== 'shutdown';
}

export function reasonText(reason: ExitReason): string {
  return reason instanceof Error ? `${reason.name}: ${reason.message}` : reason;
}

/** What an actor needs from the node that hosts it. */
export interface ActorHost extends SignalSink {
  readonly pending: PendingCalls;
  actorExited(actor: Actor, reason: ExitReason): void;
  /** Something went wrong that no caller can be told (a post that failed, a dropped post). */
  warn(message: string, error?: unknown): void;
}

const STARTING = 0;
const RUNNING = 1;
const STOPPING = 2;
const STOPPED = 3;
const STATUS = ['starting', 'running', 'stopping', 'stopped'] as const;
export type ActorStatus = (typeof STATUS)[number];

/**
 * Flushes are scheduled as native promise jobs: `queueMicrotask` costs ~40 ns more per hop in
 * Node (it wraps each callback for async_hooks).
 */
const RESOLVED = Promise.resolve();

/** Messages handled in one go before yielding to I/O, so one busy actor cannot starve the others. */
const BATCH = 1024;

/** One message in this many is timed for the handling-time histogram (two clock reads each). */
const TIMING_SAMPLE_MASK = 63;

/**
 * An actor cell: a mailbox, a behaviour, and the loop that feeds one to the other one message at
 * a time, in arrival order. Delivery into the mailbox is the only way in.
 */
export class Actor {
  #status = STARTING;
  #exitReason: ExitReason | undefined;
  #scheduled = false;
  /** The call or post whose handler returned a promise that has not settled yet. */
  #busy: Envelope | null = null;
  #stopped: Promise<void> | null = null;
  #onStopped: (() => void) | null = null;
  /** Who watches this actor: none, one, or a set of them. */
  #watchers: ((down: Down) => void) | Set<(down: Down) => void> | null = null;
  /** Its supervisor, told when it ends, with the supervisor's own tag for it (see watchExit). */
  #exitWatch: ExitWatch | null = null;
  #exitTag: unknown = undefined;
  #links: Set<Actor> | null = null;
  #cleanups: Set<() => void> | null = null;
  /** Messages handled (calls and posts), for metrics. */
  handled = 0;
  /** Times its supervisor restarted the child this actor runs, before this run (for metrics). */
  restarts = 0;
  /** What it runs, as its child spec says (class, machine or strategy name); set by its supervisor. */
  runs = '';
  /** Calls and posts that failed here, by error code; made on the first failure. */
  failures: Map<string, number> | null = null;
  /** Handling time of the sampled messages, in µs; made on the first sample. */
  timing: Histogram | null = null;
  /** The name its node's directory client registered for it, or null (see DirectoryClient). */
  registration: Registered | null = null;
  /** When the sampled message in hand started (ms), or -1. */
  #sampledAt = -1;
  /** The SERVER span of the message in hand, while tracing. */
  #span: Span | null = null;

  constructor(
    readonly host: ActorHost,
    readonly address: Address,
    readonly behaviour: Behaviour,
    readonly mailbox: Mailbox,
    readonly name: string | undefined,
  ) {}

  get status(): ActorStatus {
    return STATUS[this.#status]!;
  }
  get alive(): boolean {
    return this.#status < STOPPING;
  }
  get exitReason(): ExitReason | undefined {
    return this.#exitReason;
  }
  /** Service name, or address text for unnamed actors: how errors and logs name this actor. */
  get label(): string {
    return this.name ?? this.address.text;
  }

  target(method: string): CallTarget {
    return { service: this.label, method, address: this.address.text };
  }

  /** Puts a message in the mailbox, or refuses it with a typed error when stopped or full. */
  deliver(env: Envelope): void {
    if (this.#status >= STOPPING) {
      this.#refuse(env, new ReceiverStoppedError(this.target(env.method), reasonText(this.#exitReason ?? 'shutdown')));
      return;
    }
    const mailbox = this.mailbox;
    if (mailbox.length >= mailbox.capacity) {
      mailbox.dropped++;
      if (mailbox.overflow === 'reject') {
        this.#refuse(env, new MailboxFullError(this.target(env.method), mailbox.capacity));
        return;
      }
      const oldest = mailbox.shift()!;
      this.#refuse(oldest, new MailboxFullError(this.target(oldest.method), mailbox.capacity));
    }
    mailbox.push(env);
    if (!this.#scheduled && this.#busy === null && this.#status === RUNNING) {
      this.#scheduled = true;
      void RESOLVED.then((this.#flushing ??= () => this.#flush()));
    }
  }

  /**
   * Handles `env` at once, in the caller's turn, if this actor is idle (running, its mailbox
   * empty, no message in hand): what delivering it would do a microtask later, in the same
   * order and still one message at a time, without the hops. False when it is not idle (then
   * deliver it). A node uses it for its own requests to its directory, where the hops were most
   * of a named spawn. Never nested (a handler run this way that asks again gets false), never
   * inside this actor's own handler, and not while tracing (the traced path runs from the mailbox).
   */
  handleNow(env: Envelope): boolean {
    if (this.#status !== RUNNING || this.#busy !== null || this.mailbox.length > 0 || inline.now || tracingState.on) return false;
    const outer = handling.env;
    if (outer !== null && outer.target === this) return false;
    inline.now = true;
    try {
      this.#handle(env);
    } finally {
      inline.now = false;
      handling.env = outer;
    }
    return true;
  }

  #refuse(env: Envelope, error: Error): void {
    this.#countFailure(error);
    if (env.state === PENDING) this.host.pending.reject(env, error);
    else if (env.state !== SETTLED) this.host.warn(`post to ${this.label}.${env.method} dropped`, error);
  }

  /**
   * Starts the behaviour: true once running, false when it declined (IGNORE); throws (or
   * rejects with) its start error. At once when the behaviour's start returns no promise, as an
   * idle service's does: spawning makes no promise then.
   */
  start(): boolean | Promise<boolean> {
    let result: unknown;
    try {
      result = this.behaviour.start?.(this);
    } catch (error) {
      throw this.#startFailed(error);
    }
    if (!isThenable(result)) return this.#started(result);
    return Promise.resolve(result).then(
      (value) => this.#started(value),
      (error: unknown) => {
        throw this.#startFailed(error);
      },
    );
  }

  #startFailed(error: unknown): unknown {
    this.#finish(error instanceof Error ? error : new Error(String(error)));
    return error;
  }

  #started(result: unknown): boolean {
    if (result === IGNORE) {
      this.#finish('normal');
      return false;
    }
    if (this.#status !== STARTING) return true; // stopped or killed while starting
    this.#status = RUNNING;
    this.#resume();
    return true;
  }

  /**
   * The callbacks the loop hands to promises and timers, made on first use: an idle actor that
   * never gets a message holds none of them.
   */
  #flushing: (() => void) | null = null;
  #asyncDone: ((value: unknown) => void) | null = null;
  #asyncFailed: ((error: unknown) => void) | null = null;

  #flush(): void {
    this.#scheduled = false;
    let budget = BATCH;
    const traced = tracingState.on; // read once a batch: the per-message path stays as it was
    while (this.#status === RUNNING && this.#busy === null) {
      const env = this.mailbox.shift();
      if (env === null) return;
      // The caller already gave up (timeout or cancel): do not run work nobody waits for.
      if (env.state === SETTLED) continue;
      if (traced) this.#handleTraced(env);
      else this.#handle(env);
      if (--budget === 0) {
        if (this.mailbox.length > 0 && !this.#scheduled) {
          this.#scheduled = true;
          setImmediate(this.#flushing!);
        }
        return;
      }
    }
  }

  #handle(env: Envelope): void {
    let result: unknown;
    const sampled = (++this.handled & TIMING_SAMPLE_MASK) === 0;
    if (sampled) this.#sampledAt = performance.now();
    handling.env = env;
    try {
      result = this.behaviour.handle(env.method, env.args);
    } catch (error) {
      handling.env = null;
      this.#failed(env, error);
      return;
    }
    handling.env = null;
    if (isThenable(result)) {
      this.#busy = env;
      result.then((this.#asyncDone ??= (value) => this.#done(value)), (this.#asyncFailed ??= (error) => this.#doneFailed(error)));
      return;
    }
    if (sampled) this.#timed();
    if (env.state === PENDING) this.host.pending.resolve(env, result);
  }

  /**
   * Handles `env` inside its trace: a SERVER span (CONSUMER for a post) whose parent came with the
   * message, active while the handler runs so that what it calls joins the trace. A message with
   * no trace context runs in the root context, so that nothing leaks from the previous one.
   */
  #handleTraced(env: Envelope): void {
    const parent = env.trace;
    if (parent === null) {
      runIn(ROOT_CONTEXT, () => this.#handle(env));
      return;
    }
    const { span, ctx } = startServerSpan(parent, this.label, env.method, this.address.text, env.state === PENDING);
    this.#span = span;
    runIn(ctx, () => this.#handle(env));
    if (this.#busy !== env) this.#endSpan(undefined);
  }

  #endSpan(error: unknown): void {
    const span = this.#span;
    if (span === null) return;
    this.#span = null;
    endSpan(span, error);
  }

  /** The sampled message in hand is done: its handling time goes into the histogram. */
  #timed(): void {
    (this.timing ??= new Histogram()).record((performance.now() - this.#sampledAt) * 1000);
    this.#sampledAt = -1;
  }

  #countFailure(error: unknown): void {
    const code = error instanceof QiactError ? error.code : 'ERROR';
    const failures = (this.failures ??= new Map());
    failures.set(code, (failures.get(code) ?? 0) + 1);
  }

  /** The promise of the message in hand resolved. */
  #done(value: unknown): void {
    const env = this.#busy;
    if (env === null) return; // killed meanwhile; the call was already rejected
    this.#busy = null;
    if (this.#sampledAt >= 0) this.#timed();
    if (this.#span !== null) this.#endSpan(undefined);
    if (env.state === PENDING) this.host.pending.resolve(env, value);
    this.#resume();
  }

  /** The promise of the message in hand rejected. */
  #doneFailed(error: unknown): void {
    const env = this.#busy;
    if (env === null) return;
    this.#busy = null;
    if (this.#sampledAt >= 0) this.#timed();
    this.#failed(env, error);
    this.#resume();
  }

  #resume(): void {
    if (this.#status === STOPPING) {
      if (this.#busy === null) this.#terminate();
      return;
    }
    if (this.#status === RUNNING && this.mailbox.length > 0 && !this.#scheduled) {
      this.#scheduled = true;
      void RESOLVED.then((this.#flushing ??= () => this.#flush()));
    }
  }

  /** A handler threw: the caller gets the error; unless it was a refusal, the actor crashes. */
  #failed(env: Envelope, error: unknown): void {
    const refusal = isRefusal(error);
    if (this.#sampledAt >= 0) this.#timed();
    if (this.#span !== null) this.#endSpan(error);
    // The runtime's own errors reach the caller as they are; the service's are wrapped.
    const failure = error instanceof QiactError ? error : toServiceError(this.target(env.method), error, !refusal);
    this.#countFailure(failure);
    if (env.state === PENDING) {
      this.host.pending.reject(env, failure);
    } else if (refusal) {
      this.host.warn(`post ${this.label}.${env.method} was refused`, error);
    }
    if (!refusal) this.crash(error instanceof Error ? error : new Error(safeText(error)));
  }

  /** Stops at once with an abnormal reason: the behaviour's terminate runs but is not awaited. */
  crash(reason: Error): void {
    if (this.#status >= STOPPING) return;
    this.#status = STOPPING;
    try {
      const r = this.behaviour.terminate?.(reason);
      if (r instanceof Promise) r.catch((e) => this.host.warn(`${this.label}: terminate failed after crash`, e));
    } catch (e) {
      this.host.warn(`${this.label}: terminate failed after crash`, e);
    }
    this.#finish(reason);
  }

  /**
   * Stops cleanly: queued messages are refused (their calls fail with ReceiverStoppedError), the
   * message in hand is finished, then the behaviour's terminate runs. Resolves once stopped.
   */
  stop(reason: 'normal' | 'shutdown' = 'normal'): Promise<void> {
    if (this.#stopped) return this.#stopped;
    if (this.#status === STOPPED) return RESOLVED;
    this.#status = STOPPING;
    this.#exitReason = reason;
    this.#drain(reason);
    if (this.#busy === null) this.#terminate();
    // Most actors are stopped by now (nothing to wait for): no promise is made for them, which
    // is most of the cost of stopping a million idle actors.
    if (this.#status === STOPPED) return RESOLVED;
    return (this.#stopped = new Promise((resolve) => (this.#onStopped = resolve)));
  }

  /**
   * Runs the behaviour's terminate, then finishes: at once when it returns nothing to wait for
   * (most services have no onStop), so that stopping a million idle actors arms no timer for them.
   */
  #terminate(): void {
    const reason = this.#exitReason ?? 'normal';
    let result: unknown;
    try {
      result = this.behaviour.terminate?.(reason);
    } catch (e) {
      this.host.warn(`${this.label}: terminate failed`, e);
    }
    if (!isThenable(result)) return this.#finish(reason);
    result.then(
      () => this.#finish(reason),
      (e: unknown) => {
        this.host.warn(`${this.label}: terminate failed`, e);
        this.#finish(reason);
      },
    );
  }

  /** Forced stop: nothing more runs; every pending call to this actor fails now. */
  kill(): void {
    if (this.#status === STOPPED) return;
    const busy = this.#busy;
    this.#busy = null;
    this.#status = STOPPING;
    if (busy !== null && busy.state === PENDING) {
      this.host.pending.reject(busy, new ReceiverStoppedError(this.target(busy.method), 'killed'));
    }
    try {
      this.behaviour.kill?.();
    } catch (e) {
      this.host.warn(`${this.label}: kill hook failed`, e);
    }
    this.#finish('killed');
  }

  #drain(reason: ExitReason): void {
    const text = reasonText(reason);
    for (let env = this.mailbox.shift(); env !== null; env = this.mailbox.shift()) {
      if (env.state === PENDING) this.host.pending.reject(env, new ReceiverStoppedError(this.target(env.method), text));
    }
  }

  #finish(reason: ExitReason): void {
    if (this.#status === STOPPED) return;
    if (this.#span !== null) this.#endSpan(reason instanceof Error ? reason : new Error(`stopped: ${reason}`));
    this.#status = STOPPED;
    this.#exitReason = reason;
    this.#drain(reason);
    const busy = this.#busy;
    this.#busy = null;
    if (busy !== null && busy.state === PENDING) {
      this.host.pending.reject(busy, new ReceiverStoppedError(this.target(busy.method), reasonText(reason)));
    }
    const cleanups = this.#cleanups;
    this.#cleanups = null;
    if (cleanups) for (const fn of cleanups) fn();
    this.host.actorExited(this, reason);
    this.#onStopped?.();
    if (this.#watchers !== null || this.#links !== null || this.#exitWatch !== null) queueMicrotask(() => this.#notify(reason));
  }

  #notify(reason: ExitReason): void {
    const exitWatch = this.#exitWatch;
    if (exitWatch !== null) {
      this.#exitWatch = null;
      tellExit(this, exitWatch, reason, this.#exitTag);
    }
    if (this.#watchers === null && this.#links === null) return;
    const down: Down = { address: this.address, name: this.name, reason };
    const watchers = this.#watchers;
    this.#watchers = null;
    if (typeof watchers === 'function') callWatcher(this, watchers, down);
    else if (watchers !== null) for (const watcher of watchers) callWatcher(this, watcher, down);
    if (this.#links) {
      for (const other of this.#links) {
        other.#links?.delete(this);
        if (isAbnormal(reason)) other.crash(new LinkedExitError(this.label, reason));
      }
      this.#links = null;
    }
  }

  /**
   * Death watch: `watcher` runs once when this actor stops, or at once (reason `noproc`) if it
   * already has. Returns a function that cancels the watch.
   */
  monitor(watcher: (down: Down) => void): () => void {
    if (this.#status === STOPPED) {
      queueMicrotask(() => callWatcher(this, watcher, { address: this.address, name: this.name, reason: 'noproc' }));
      return () => {};
    }
    const watchers = this.#watchers;
    if (watchers === null) this.#watchers = watcher;
    else if (typeof watchers === 'function') this.#watchers = new Set([watchers, watcher]);
    else watchers.add(watcher);
    return () => {
      const now = this.#watchers;
      if (now === watcher) this.#watchers = null;
      else if (now !== null && typeof now !== 'function') now.delete(watcher);
    };
  }

  /**
   * The supervisor's watch: `watch.childExited(this, reason, tag)` runs once when this actor
   * stops (at once with `noproc` if it already has); null cancels it. One shared object and a
   * tag rather than a closure per child: a supervisor may have a million children.
   */
  watchExit(watch: ExitWatch | null, tag?: unknown): void {
    if (watch !== null && this.#status === STOPPED) {
      queueMicrotask(() => tellExit(this, watch, 'noproc', tag));
      return;
    }
    this.#exitWatch = watch;
    this.#exitTag = watch === null ? undefined : tag;
  }

  /** Links two actors: when either stops abnormally, the other crashes with a LinkedExitError. */
  link(other: Actor): void {
    if (other === this) return;
    if (other.#status === STOPPED) {
      if (isAbnormal(other.#exitReason ?? 'noproc')) queueMicrotask(() => this.crash(new LinkedExitError(other.label, other.#exitReason ?? 'noproc')));
      return;
    }
    (this.#links ??= new Set()).add(other);
    (other.#links ??= new Set()).add(this);
  }

  /**
   * Runs `fn` when this actor stops, e.g. to end the subscriptions it made. Returns a function
   * that cancels it (a subscription ended early no longer needs it).
   */
  onExit(fn: () => void): () => void {
    if (this.#status === STOPPED) {
      fn();
      return () => {};
    }
    (this.#cleanups ??= new Set()).add(fn);
    return () => this.#cleanups?.delete(fn);
  }
}

/** Whether a handler runs now by `handleNow` (which does not nest). */
const inline = { now: false };

/** A handler's or terminate's result to wait for (a promise, or any thenable). */
function isThenable(x: unknown): x is PromiseLike<unknown> {
  return x !== null && typeof x === 'object' && typeof (x as PromiseLike<unknown>).then === 'function';
}

/** Who supervises an actor, as `watchExit` tells it of the actor's end. */
export interface ExitWatch {
  childExited(child: Actor, reason: ExitReason, tag: unknown): void;
}

function tellExit(actor: Actor, watch: ExitWatch, reason: ExitReason, tag: unknown): void {
  try {
    watch.childExited(actor, reason, tag);
  } catch (e) {
    actor.host.warn(`the supervisor of ${actor.label} failed to take its exit`, e);
  }
}

function callWatcher(actor: Actor, watcher: (down: Down) => void, down: Down): void {
  try {
    watcher(down);
  } catch (e) {
    actor.host.warn(`a monitor of ${actor.label} threw`, e);
  }
}

/** The reason a linked actor crashes with when its partner stopped abnormally. */
export class LinkedExitError extends Error {
  override readonly name = 'LinkedExitError';
  constructor(
    readonly partner: string,
    readonly partnerReason: ExitReason,
  ) {
    super(`linked actor ${partner} stopped: ${reasonText(partnerReason)}`);
  }
}

function toServiceError(target: CallTarget, error: unknown, crashed: boolean): ServiceError {
  if (error instanceof Error) {
    return new ServiceError(target, error.name, error.message, (error as { data?: unknown }).data, { cause: error, crashed });
  }
  return new ServiceError(target, 'Error', safeText(error), undefined, { cause: error, crashed });
}

/** A thrown non-Error as text; String() itself throws for some values (`{ toString: 1 }`). */
function safeText(value: unknown): string {
  try {
    return String(value);
  } catch {
    return `a thrown ${typeof value}`;
  }
}
