import { isAbnormal, reasonText, type Actor, type ExitReason } from './actor.js';
import type { Address } from './address.js';
import type { ServiceInfo } from './directory/entries.js';
import type { DirectoryClient } from './directory/client.js';
import { NoSuchServiceError, ReceiverStoppedError } from './errors.js';
import type { CallOptions, HandleTarget, Route, Subscription } from './remote.js';
import { RemoteActor, type Peer } from './routing/peer.js';
import type { Router } from './routing/router.js';
import { endedForGood } from './signal.js';

/** Backoff of a subscription being made again after its service crashed or its link dropped. */
const RESUBSCRIBE_FIRST_MS = 50;
const RESUBSCRIBE_MAX_MS = 2000;

/** A service found by name: its directory entry, its address, and its actor when it lives in this thread. */
export interface Found {
  readonly info: ServiceInfo;
  readonly address: Address;
  readonly actor: Actor | null;
}

/** What a handle needs from its node (the node core). */
export interface TargetHost {
  readonly router: Pick<Router, 'pathTo' | 'peerFor'>;
  readonly directory: Pick<DirectoryClient, 'whenReady'>;
  readonly stopped: boolean;
  find(name: string, timeoutMs: number): Promise<Found>;
  callActor(actor: Actor, method: string, args: unknown[], timeoutMs: number, signal?: AbortSignal): Promise<unknown>;
  callVia(peer: Peer, to: RemoteActor, method: string, args: unknown[], timeoutMs: number, signal?: AbortSignal): Promise<unknown>;
  post(actor: Actor, method: string, args: unknown[]): void;
  postVia(peer: Peer, to: RemoteActor, method: string, args: unknown[]): void;
  subscribeVia(peer: Peer, to: RemoteActor, member: string, deliver: (value: unknown) => void, end: (reason: string) => void, timeoutMs: number): Promise<number>;
  monitorRemote(address: Address, watcher: (reason: ExitReason) => void): () => void;
  pause(ms: number): Promise<void>;
  warn(message: string, error?: unknown): void;
}

/**
 * A handle's way to one service, wherever it lives. In this thread a call goes straight into
 * the service's mailbox; elsewhere it goes on the connection to the service's node, kept here
 * so the hot path does no look-up. The service is watched: when it stops (a supervisor restarts
 * services as new actors, possibly in a new process), the next call finds the name again,
 * waiting within its timeout for the name to come back after a crash.
 */
export class ServiceTarget implements HandleTarget {
  #actor: Actor | null = null;
  #remote: RemoteActor | null = null;
  #address!: Address;
  #peer: Peer | null = null;
  /** The remote service stopped (or its node went away): find the name again before the next call. */
  #stale = false;
  #exit: ExitReason | undefined;
  #unwatch: () => void = () => {};
  #onStale: (() => void)[] = [];

  constructor(
    private readonly core: TargetHost,
    readonly name: string,
    found: Found,
    private readonly timeout: number,
    private readonly signal: AbortSignal | undefined,
    /** The actor that made the handle: its subscriptions end when it stops. */
    private readonly owner: Actor | undefined,
    /**
     * Bound to the one actor it was made for (a handle by address, OTP's pid): it never finds a
     * name again, and once that actor has stopped its calls fail with ReceiverStoppedError.
     */
    private readonly pinned = false,
  ) {
    this.#use(found);
  }

  get route(): Route {
    return { service: this.name, address: this.#address.text, path: this.core.router.pathTo(this.#address) };
  }

  #use(found: Found): void {
    this.#unwatch();
    this.#address = found.address;
    this.#actor = found.actor;
    this.#stale = false;
    this.#exit = undefined;
    if (found.actor !== null) {
      this.#remote = null;
      this.#peer = null;
      this.#unwatch = () => {};
      return;
    }
    this.#remote = new RemoteActor(found.address.text, this.name);
    this.#peer = this.core.router.peerFor(found.address);
    this.#unwatch = this.core.monitorRemote(found.address, (reason) => {
      this.#stale = true;
      this.#exit = reason;
      for (const wake of this.#onStale.splice(0)) wake();
    });
  }

  /** Resolves once the service this handle points at now is known to have stopped. */
  #gone(): Promise<void> {
    const actor = this.#actor;
    if (actor !== null) return new Promise((resolve) => actor.monitor(() => resolve()));
    if (this.#stale) return Promise.resolve();
    return new Promise((resolve) => this.#onStale.push(resolve));
  }

  #peerNow(): Peer {
    let peer = this.#peer!;
    if (peer.closed) peer = this.#peer = this.core.router.peerFor(this.#address);
    return peer;
  }

  call(method: string, args: unknown[], options: CallOptions | undefined): Promise<unknown> {
    const timeout = options?.timeout ?? this.timeout;
    const signal = options?.signal ?? this.signal;
    const actor = this.#actor;
    if (actor !== null) {
      if (actor.alive) return this.core.callActor(actor, method, args, timeout, signal);
    } else if (!this.#stale) {
      return this.core.callVia(this.#peerNow(), this.#remote!, method, args, timeout, signal);
    }
    if (this.pinned) return Promise.reject(this.#stopped(method));
    return this.#live(timeout).then(() => this.call(method, args, options));
  }

  /** Why a pinned handle's call cannot go: its actor stopped, with the reason it stopped for. */
  #stopped(method: string): ReceiverStoppedError {
    const exit = this.#actor !== null ? this.#actor.exitReason : this.#exit;
    return new ReceiverStoppedError({ service: this.name, method, address: this.#address.text }, exit === undefined ? 'noproc' : reasonText(exit));
  }

  post(method: string, args: unknown[]): void {
    const actor = this.#actor;
    if (actor !== null) {
      if (actor.alive) return this.core.post(actor, method, args);
    } else if (!this.#stale) {
      this.core.postVia(this.#peerNow(), this.#remote!, method, args);
      return;
    }
    // A post to an actor that has stopped goes nowhere, as in Erlang.
    if (this.pinned) return;
    this.#live(this.timeout).then(
      () => this.post(method, args),
      (error: unknown) => this.core.warn(`post to ${this.name}.${method} dropped`, error),
    );
  }

  /**
   * Finds the service again. If it crashed, its supervisor is likely restarting it: wait (up to
   * the timeout) for the name to be ready again rather than fail in the gap.
   */
  async #live(timeout: number): Promise<void> {
    const exit = this.#actor !== null ? this.#actor.exitReason : this.#exit;
    try {
      return this.#use(await this.core.find(this.name, timeout));
    } catch (error) {
      if (!(error instanceof NoSuchServiceError) || !isAbnormal(exit ?? 'normal')) throw error;
      if (!(await this.core.directory.whenReady(this.name, timeout))) throw error;
      return this.#use(await this.core.find(this.name, timeout));
    }
  }

  /**
   * Subscribes to a signal or property. The subscription outlives its service's crashes and
   * lost links: it is made again, with backoff, once the service is back. It ends only when
   * unsubscribed, when the service stops cleanly, or when this node stops.
   */
  async subscribe(member: string, listener: (value: unknown) => void): Promise<Subscription> {
    let live = true;
    let settle: (reason: string) => void = () => {};
    const ended = new Promise<string>((resolve) => (settle = resolve));
    const finish = (reason: string): void => {
      if (!live) return;
      live = false;
      settle(reason);
    };
    const deliver = (value: unknown): void => {
      if (live) listener(value);
    };
    let unsubscribe: () => void = () => {};
    let generation = 0;
    const open = async (): Promise<void> => {
      const mine = ++generation;
      // One `end` per opening: a late end from an earlier opening must not end this one.
      const end = (reason: string): void => {
        if (mine !== generation || !live) return;
        if (endedForGood(reason) || this.core.stopped) finish(reason);
        else void reopen(reason);
      };
      // Sent now when the service is known live, so a subscribe keeps its place in program
      // order with the calls made after it.
      if (this.#actor !== null ? !this.#actor.alive : this.#stale) {
        if (this.pinned) throw this.#stopped(`@subscribe ${member}`);
        await this.#live(this.timeout);
      }
      const actor = this.#actor;
      if (actor !== null) {
        const id = await this.core.callActor(actor, '@subscribe', [member, deliver, end], this.timeout);
        unsubscribe = () => {
          if (actor.alive) this.core.post(actor, '@unsubscribe', [member, id]);
        };
      } else {
        const peer = this.#peerNow();
        const remote = this.#remote!;
        const sub = await this.core.subscribeVia(peer, remote, member, deliver, end, this.timeout);
        unsubscribe = () => peer.unsubscribe(remote.address, sub);
      }
      if (!live) unsubscribe();
    };
    const reopen = async (why: string): Promise<void> => {
      // The service ends its subscriptions as it stops: wait until it has, then find it again.
      await this.#gone();
      let delay = RESUBSCRIBE_FIRST_MS;
      while (live && !this.core.stopped) {
        try {
          return await open();
        } catch {
          if (this.core.stopped || this.pinned) return finish(why);
          await this.core.pause(delay);
          delay = Math.min(delay * 2, RESUBSCRIBE_MAX_MS);
        }
      }
      finish(why);
    };
    await open();
    let forget = (): void => {};
    const off = (): void => {
      if (!live) return;
      finish('unsubscribed');
      unsubscribe();
    };
    if (this.owner) forget = this.owner.onExit(off);
    void ended.then(() => forget());
    return { off, ended };
  }
}
