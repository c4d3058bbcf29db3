import { createActor, type Actor as XActor, type AnyStateMachine, type EventFromLogic, type SnapshotFrom, type StateValueFrom } from 'xstate';
import type { Actor, ExitReason } from './actor.js';
import type { Behaviour, BehaviourFactory, ServiceDescription } from './behaviour.js';
import { NoSuchMethodError, Refusal } from './errors.js';
import type { RemoteMethod, RemoteProperty } from './remote.js';
import { Property, stoppedReason } from './signal.js';

export interface MachineServiceOptions<M extends AnyStateMachine> {
  /** Service label for logs and the tree; default the machine's id. */
  label?: string;
  /**
   * The reply of a call, from the snapshot after the event was handled. Default: the state
   * value (`snapshot.value`).
   */
  reply?: (snapshot: SnapshotFrom<M>, event: EventFromLogic<M>) => unknown;
}

/**
 * The handle type of a machine service: one method per event type, taking the event's fields
 * (without `type`) and resolving to the reply (by default the new state value); plus the `state`
 * property, whose change signal fires on every transition.
 */
export type MachineRemote<M extends AnyStateMachine> = {
  readonly [E in EventFromLogic<M> as E['type']]: RemoteMethod<
    keyof Omit<E, 'type'> extends never ? [] : [payload: Omit<E, 'type'>],
    StateValueFrom<M>
  >;
} & { readonly state: RemoteProperty<StateValueFrom<M>> };

/**
 * A service whose behaviour is an xstate v5 machine. A call `door.open({ force: true })` sends
 * the event `{ type: 'open', force: true }`; an event the current state does not accept is
 * refused with a `ServiceError` named `EventNotAccepted` (the service keeps running). An error
 * inside the machine crashes the service, and its supervisor restarts it from the machine's
 * initial state.
 */
export function fromMachine<M extends AnyStateMachine>(machine: M, options: MachineServiceOptions<M> = {}): BehaviourFactory {
  const label = options.label ?? machine.id;
  return { kind: 'behaviour', label, create: () => new MachineBehaviour(machine, options) };
}

/** The parts of a machine snapshot the adapter reads. */
interface SnapshotView {
  readonly value: unknown;
  readonly status: string;
  readonly error: unknown;
  can(event: unknown): boolean;
}

class MachineBehaviour<M extends AnyStateMachine> implements Behaviour {
  #running: XActor<M> | undefined;
  #self: Actor | undefined;
  readonly #state = new Property<unknown>(undefined);

  constructor(
    private readonly machine: M,
    private readonly options: MachineServiceOptions<M>,
  ) {}

  start(self: Actor): void {
    this.#self = self;
    this.#state.changed.attach(self.host);
    const running = createActor(this.machine);
    // An error listener keeps xstate from rethrowing on a timer; the actor crashes instead.
    running.subscribe({
      next: (snapshot) => {
        this.#state.value = (snapshot as unknown as SnapshotView).value;
      },
      error: (error) => self.crash(error instanceof Error ? error : new Error(String(error))),
    });
    this.#running = running;
    running.start();
  }

  handle(method: string, args: unknown[]): unknown {
    if (method.startsWith('@')) return this.#system(method, args);
    const running = this.#running!;
    const payload = args[0];
    const event = (typeof payload === 'object' && payload !== null ? { ...payload, type: method } : { type: method }) as EventFromLogic<M>;
    const before = running.getSnapshot() as unknown as SnapshotView;
    if (!before.can(event)) {
      throw new Refusal('EventNotAccepted', `${this.#self!.label}: state ${JSON.stringify(before.value)} does not accept '${method}'`, {
        state: before.value,
        event: method,
      });
    }
    running.send(event);
    const after = running.getSnapshot() as unknown as SnapshotView;
    if (after.status === 'error') throw after.error instanceof Error ? after.error : new Error(String(after.error));
    return this.options.reply ? this.options.reply(after as unknown as SnapshotFrom<M>, event) : after.value;
  }

  #system(method: string, args: unknown[]): unknown {
    const isState = args[0] === 'state';
    if (method === '@describe') return this.describe();
    if (method === '@get' && isState) return this.#state.value;
    if (method === '@subscribe' && isState) return this.#state.changed.subscribe(args[1] as (v: unknown) => void, args[2] as (r: string) => void);
    if (method === '@unsubscribe' && isState) return this.#state.changed.unsubscribe(args[1] as number);
    throw new NoSuchMethodError(this.#self!.target(`${method} ${String(args[0])}`), this.#eventTypes());
  }

  #eventTypes(): string[] {
    return (this.machine.root.events as string[]).filter((e) => !e.startsWith('xstate.') && e !== '*');
  }

  describe(): ServiceDescription {
    return { methods: this.#eventTypes().map((name) => ({ name, params: ['payload?'] })), signals: [], properties: ['state'] };
  }

  terminate(reason: ExitReason): void {
    this.#state.changed.close(stoppedReason(reason instanceof Error ? reason.message : reason));
    this.#running?.stop();
  }

  kill(): void {
    this.terminate('killed');
  }
}
