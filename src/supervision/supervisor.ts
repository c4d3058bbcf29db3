import { isAbnormal, type Actor, type ExitReason, type ExitWatch } from '../actor.js';
import type { Behaviour } from '../behaviour.js';
import type { Clock } from '../clock.js';
import { ChildStartError, InvalidArgumentError, InvalidChildSpecError, NoSuchChildError, RestartIntensityError, ChildRunningError } from '../errors.js';
import { checkChildSpec, type Child, type ChildSpec, type Placement, type RestartType, type Strategy, type SupervisorSpec } from './child-spec.js';
import { RestartIntensity } from './intensity.js';
import { shutdown } from './shutdown.js';

/** What a supervisor needs from its node. */
export interface SupervisorHost {
  readonly clock: Clock;
  /**
   * Starts one child: its actor, or null when it declined (returned 'ignore'); at once when it
   * started at once. Throws (or rejects with) its start error.
   */
  startChild(child: Child, parent: Actor): Actor | null | Promise<Actor | null>;
  /** Posts a message to an actor's mailbox. */
  post(actor: Actor, method: string, args: unknown[]): void;
  /** Calls an actor (used to walk nested supervisors for the tree). */
  call(actor: Actor, method: string, args: unknown[]): Promise<unknown>;
  warn(message: string, error?: unknown): void;
}

/** One child as `whichChildren` reports it. */
export interface ChildInfo {
  readonly id: string;
  readonly name: string | undefined;
  /** Address text of the running child, or null when it is not running. */
  readonly address: string | null;
  readonly type: 'worker' | 'supervisor';
  readonly restart: RestartType;
  readonly in: Placement;
  readonly label: string;
  /** Times this child was restarted by this supervisor. */
  readonly restarts: number;
}

/** A supervision (sub)tree, as `node.tree()` reports it. */
export interface TreeNode extends ChildInfo {
  readonly strategy?: Strategy;
  readonly children?: readonly TreeNode[];
  /**
   * A supervisor with more children than a node's tree lists (MAX_TREE_WORKERS workers): how
   * many it has; `children` are its supervisors and its first workers.
   */
  readonly childCount?: number;
}

/**
 * The most worker children of one supervisor that a node's tree (`node.tree()`, `qiact tree`,
 * RobotMetrics) lists: a dynamic supervisor of a million children would make a tree of a
 * million rows, sent to every watcher. Its supervisor children are always listed.
 */
export const MAX_TREE_WORKERS = 1000;

/** The form of the ids a dynamic supervisor generates, with a number it could reach (at most 15 digits). */
const GENERATED_FORM = /^child-([1-9][0-9]{0,14})$/;

/** One supervisor's children as a node's tree lists them, and how many it has. */
export interface Subtree {
  readonly children: TreeNode[];
  readonly count: number;
}

/** What startChild answers: the new child's id and address, or null if it declined to start. */
type Added = { id: string; address: string } | null;

interface Slot {
  readonly child: Child;
  actor: Actor | null;
  restarts: number;
  /** Its own restart window, in a supervisor whose children have separate fates (made on first restart). */
  intensity?: RestartIntensity;
}

/**
 * A dynamic supervisor whose children have separate fates (the node's services supervisor: each
 * spawned service and each supervised tree stands alone, as OTP applications do). Such a
 * supervisor never gives up: a worker child restarted more often than the supervisor's intensity
 * allows (counted per child), or a supervisor child that exits abnormally (its tree gave up), is
 * removed and reported to `gaveUp`.
 */
export interface SeparateFates {
  /** `reason`: how the child last exited; `why`: why it is not restarted, in words. */
  gaveUp(child: ChildInfo, reason: Error, why: string): void;
}

/**
 * An OTP supervisor as an actor behaviour. Child exits arrive as messages in its own mailbox, so
 * restarts and administration requests (`whichChildren`, `startChild`, …) are handled one at a
 * time, in order, and a restart that keeps failing is retried through the mailbox: the
 * supervisor stays responsive while it loops, until the restart intensity stops it.
 */
export class SupervisorBehaviour implements Behaviour, ExitWatch {
  /** The children by id, in start order (a Map keeps insertion order): every look-up by id is O(1). */
  readonly #slots = new Map<string, Slot>();
  readonly #intensity: RestartIntensity;
  #self: Actor | undefined;
  #nextDynamicId = 1;

  constructor(
    readonly spec: SupervisorSpec,
    private readonly host: SupervisorHost,
    private readonly fates?: SeparateFates,
  ) {
    this.#intensity = new RestartIntensity(spec.intensity, spec.period, host.clock);
    for (const c of spec.children) {
      const child = checkChildSpec(c);
      this.#slots.set(child.id, { child, actor: null, restarts: 0 });
      this.#generateAbove(child.id);
    }
  }

  get #label(): string {
    return this.#self?.label ?? 'supervisor';
  }

  /** Starts the children in order; if one fails, stops those already started and fails. */
  async start(self: Actor): Promise<void> {
    this.#self = self;
    for (const slot of this.#slots.values()) {
      try {
        await this.#startSlot(slot);
      } catch (error) {
        await this.#stopAll();
        throw startError(this.#label, slot.child.id, error);
      }
    }
  }

  handle(method: string, args: unknown[]): unknown {
    switch (method) {
      case '@exit':
        return this.#childExited(args[0] as Slot, args[1] as Actor, args[2] as ExitReason);
      case '@retry':
        return this.#retry(args[0] as string, args[1] as Error);
      case 'whichChildren':
        return [...this.#slots.values()].map((s) => this.#info(s));
      case 'countChildren': {
        const slots = [...this.#slots.values()];
        return {
          specs: slots.length,
          active: slots.filter((s) => s.actor?.alive).length,
          supervisors: slots.filter((s) => s.child.type === 'supervisor').length,
          workers: slots.filter((s) => s.child.type === 'worker').length,
        };
      }
      case 'startChild':
        return this.#add(args[0]);
      case 'terminateChild':
        return this.#terminate(this.#find(args[0]));
      case 'restartChild':
        return this.#restartByHand(this.#find(args[0]));
      case 'deleteChild':
        return this.#delete(this.#find(args[0]));
      case 'tree':
        return this.#tree(Infinity).then((t) => t.children);
      case '@tree':
        return this.#tree(typeof args[0] === 'number' ? args[0] : MAX_TREE_WORKERS);
    }
    throw new InvalidArgumentError('supervisor request', `'${method}' is not a supervisor request`);
  }

  /** Starts the child of `slot`; at once (no promise) when its start is synchronous. */
  #startSlot(slot: Slot): void | Promise<void> {
    const started = this.host.startChild(slot.child, this.#self!);
    if (started instanceof Promise) return started.then((actor) => this.#running(slot, actor));
    this.#running(slot, started);
  }

  #running(slot: Slot, actor: Actor | null): void {
    slot.actor = actor;
    if (actor === null) return;
    actor.restarts = slot.restarts;
    actor.runs = slot.child.label;
    actor.watchExit(this, slot);
  }

  /** A child's end, told by the child (see Actor.watchExit): handled in turn, as a message. */
  childExited(child: Actor, reason: ExitReason, slot: unknown): void {
    this.host.post(this.#self!, '@exit', [slot, child, reason]);
  }

  async #stopSlot(slot: Slot): Promise<void> {
    await this.#stopSlotNow(slot);
  }

  /** Stops the child of `slot`: null when it stopped at once, else the promise of its shutdown. */
  #stopSlotNow(slot: Slot): Promise<unknown> | null {
    const actor = slot.actor;
    slot.actor = null;
    if (actor === null) return null;
    actor.watchExit(null);
    if (actor.status === 'stopped') return null;
    const ended = shutdown(actor, slot.child.shutdown, this.host.clock);
    return typeof ended === 'string' ? null : ended;
  }

  /** Reverse start order; a dynamic supervisor stops its children in parallel. */
  async #stopAll(): Promise<void> {
    if (this.spec.strategy === 'dynamic') {
      // Only the children still stopping are waited for: no promise per idle child.
      const stopping: Promise<unknown>[] = [];
      for (const slot of this.#slots.values()) {
        const p = this.#stopSlotNow(slot);
        if (p !== null) stopping.push(p);
      }
      await Promise.all(stopping);
      return;
    }
    const slots = [...this.#slots.values()];
    for (let i = slots.length - 1; i >= 0; i--) await this.#stopSlot(slots[i]!);
  }

  async #childExited(slot: Slot, actor: Actor, reason: ExitReason): Promise<void> {
    // An exit we caused, of a run already replaced, or of a child since removed: nothing to do.
    if (slot.actor !== actor || this.#slots.get(slot.child.id) !== slot) return;
    slot.actor = null;
    if (this.fates !== undefined && slot.child.type === 'supervisor' && isAbnormal(reason)) return this.#giveUp(slot, reason, 'its supervisor gave up');
    const { restart } = slot.child;
    const again = restart === 'permanent' || (restart === 'transient' && isAbnormal(reason));
    if (!again) {
      if (restart === 'temporary' || this.spec.strategy === 'dynamic') this.#remove(slot);
      return;
    }
    await this.#restart(slot, reason);
  }

  #giveUp(slot: Slot, reason: ExitReason, why: string): void {
    this.#remove(slot);
    this.fates!.gaveUp(this.#info(slot), reason instanceof Error ? reason : new Error(`exited: ${String(reason)}`), why);
  }

  /** Restarts `slot` (and its group), which last exited with `reason`, within the restart intensity. */
  async #restart(slot: Slot, reason: ExitReason): Promise<void> {
    if (this.fates !== undefined) {
      // With separate fates, a child restarts within its own window, or it alone is given up.
      slot.intensity ??= new RestartIntensity(this.spec.intensity, this.spec.period, this.host.clock);
      if (!slot.intensity.record()) return this.#giveUp(slot, reason, `it was restarted more than ${this.spec.intensity} times in ${this.spec.period} ms`);
    } else if (!this.#intensity.record()) {
      await this.#stopAll();
      this.#self!.crash(new RestartIntensityError(this.#label, this.spec.intensity, this.spec.period, slot.child.id));
      return;
    }
    slot.restarts++;
    const group = this.#restartGroup(slot);
    for (let i = group.length - 1; i >= 0; i--) if (group[i] !== slot) await this.#stopSlot(group[i]!);
    for (const s of group) {
      if (this.#slots.get(s.child.id) !== s) continue;
      // As in OTP, a temporary sibling stopped for the group is not started again.
      if (s !== slot && s.child.restart === 'temporary') {
        this.#remove(s);
        continue;
      }
      try {
        await this.#startSlot(s);
      } catch (error) {
        this.host.warn(`supervisor ${this.#label}: restart of '${s.child.id}' failed; trying again`, error);
        // Through the mailbox, so requests queued meanwhile are answered between attempts.
        this.host.post(this.#self!, '@retry', [s.child.id, error]);
        return;
      }
    }
  }

  /** The children a strategy restarts together when `slot` died, in start order. */
  #restartGroup(slot: Slot): Slot[] {
    switch (this.spec.strategy) {
      case 'one_for_all':
        return [...this.#slots.values()];
      case 'rest_for_one': {
        const slots = [...this.#slots.values()];
        return slots.slice(slots.indexOf(slot));
      }
      default:
        return [slot];
    }
  }

  async #retry(id: string, startError: Error): Promise<void> {
    const slot = this.#slots.get(id);
    if (slot === undefined || slot.actor !== null) return;
    await this.#restart(slot, startError);
  }

  /**
   * Adds and starts a child; its id (generated in a dynamic supervisor) and address, or null if
   * it declined. Answered at once when the child started at once.
   */
  #add(spec: unknown): Added | Promise<Added> {
    const generated = this.spec.strategy === 'dynamic' && typeof spec === 'object' && spec !== null && !('id' in spec);
    const child = checkChildSpec(spec, generated ? `child-${this.#nextDynamicId++}` : undefined);
    // A generated id is new by construction (see #generateAbove): no look-up in a map that may hold 100,000 children.
    if (!generated) {
      if (this.#slots.has(child.id)) throw new InvalidChildSpecError(child.id, 'id', `is already used in supervisor ${this.#label}`);
      this.#generateAbove(child.id);
    }
    const slot: Slot = { child, actor: null, restarts: 0 };
    let starting: void | Promise<void>;
    try {
      starting = this.#startSlot(slot);
    } catch (error) {
      throw startError(this.#label, child.id, error);
    }
    if (starting === undefined) return this.#added(slot);
    return starting.then(
      () => this.#added(slot),
      (error: unknown) => {
        throw startError(this.#label, child.id, error);
      },
    );
  }

  /**
   * Keeps the ids this supervisor generates (`child-N`, N counting up) above any id of that form
   * given by hand, so a generated id never names a child already there.
   */
  #generateAbove(id: string): void {
    const n = GENERATED_FORM.exec(id);
    if (n !== null) this.#nextDynamicId = Math.max(this.#nextDynamicId, Number(n[1]) + 1);
  }

  #added(slot: Slot): Added {
    const actor = slot.actor;
    if (actor === null && this.spec.strategy === 'dynamic') return null; // ignored: nothing to keep
    this.#slots.set(slot.child.id, slot);
    return actor === null ? null : { id: slot.child.id, address: actor.address.text };
  }

  /** The running actor of child `id`, or null (read by the node that owns this supervisor). */
  childActor(id: string): Actor | null {
    const actor = this.#slots.get(id)?.actor ?? null;
    return actor?.alive ? actor : null;
  }

  #find(id: unknown): Slot {
    const slot = typeof id === 'string' ? this.#slots.get(id) : undefined;
    if (slot === undefined) throw new NoSuchChildError(this.#label, String(id));
    return slot;
  }

  async #terminate(slot: Slot): Promise<void> {
    await this.#stopSlot(slot);
    if (this.spec.strategy === 'dynamic' || slot.child.restart === 'temporary') this.#remove(slot);
  }

  async #restartByHand(slot: Slot): Promise<string | null> {
    if (slot.actor !== null) throw new ChildRunningError(this.#label, slot.child.id);
    try {
      await this.#startSlot(slot);
    } catch (error) {
      throw startError(this.#label, slot.child.id, error);
    }
    return (slot.actor as Actor | null)?.address.text ?? null;
  }

  #delete(slot: Slot): void {
    if (slot.actor !== null) throw new ChildRunningError(this.#label, slot.child.id);
    this.#remove(slot);
  }

  #remove(slot: Slot): void {
    if (this.#slots.get(slot.child.id) === slot) this.#slots.delete(slot.child.id);
  }

  #info(slot: Slot): ChildInfo {
    const c = slot.child;
    return {
      id: c.id,
      name: c.name,
      address: slot.actor?.address.text ?? null,
      type: c.type,
      restart: c.restart,
      in: c.in,
      label: c.label,
      restarts: slot.restarts,
    };
  }

  /** The children, with up to `workers` of the worker children; and how many children there are. */
  async #tree(workers: number): Promise<Subtree> {
    const children: TreeNode[] = [];
    let listedWorkers = 0;
    for (const slot of this.#slots.values()) {
      if (slot.child.type === 'supervisor') children.push(await this.#subtree(slot, workers));
      else if (listedWorkers++ < workers) children.push(this.#info(slot));
    }
    return { children, count: this.#slots.size };
  }

  async #subtree(slot: Slot, workers: number): Promise<TreeNode> {
    const strategy = (slot.child.start as SupervisorSpec).strategy;
    const sub = slot.actor?.alive ? ((await this.host.call(slot.actor, '@tree', [workers])) as Subtree) : { children: [], count: 0 };
    return { ...this.#info(slot), strategy, children: sub.children, ...(sub.count > sub.children.length ? { childCount: sub.count } : {}) };
  }

  /** Clean stop: children in reverse start order, each by its shutdown policy. */
  terminate(): Promise<void> {
    return this.#stopAll();
  }

  /** Forced stop: every child is killed at once. */
  kill(): void {
    const slots = [...this.#slots.values()];
    for (let i = slots.length - 1; i >= 0; i--) {
      const slot = slots[i]!;
      slot.actor?.watchExit(null);
      slot.actor?.kill();
      slot.actor = null;
    }
  }
}

/** A start error from deep in a tree is passed up as it is: it already names the child that failed. */
function startError(supervisor: string, childId: string, error: unknown): ChildStartError {
  return error instanceof ChildStartError ? error : new ChildStartError(supervisor, childId, { cause: error });
}
