import type { Actor, ExitReason } from './actor.js';
import { QiactError, Refusal } from './errors.js';
import type { JsonSchema } from './schemas.js';

/** What a started behaviour may return to decline starting, as OTP's `init` returning `ignore`. */
export const IGNORE = 'ignore';

/** A member of a service, as it describes itself. */
export interface MethodDescription {
  readonly name: string;
  /** Declared parameter names, in order; a rest parameter is written `...name`. */
  readonly params: readonly string[];
  /** Parameter and result types where the service declares them, e.g. `(by: number) => number`. */
  readonly signature?: string;
  /** JSON Schemas of the parameters (and result), where the service declares them (`static schemas`). */
  readonly schema?: { readonly params: readonly JsonSchema[]; readonly result?: JsonSchema };
}
export interface ServiceDescription {
  readonly methods: readonly MethodDescription[];
  readonly signals: readonly string[];
  readonly properties: readonly string[];
  /** Through a door: the properties this client may also set (a read-only identity: none). */
  readonly writable?: readonly string[];
  /** JSON Schemas of signal values and property values, where the service declares them. */
  readonly schemas?: { readonly signals: Readonly<Record<string, JsonSchema>>; readonly properties: Readonly<Record<string, JsonSchema>> };
}

/**
 * The callbacks an actor runs. The actor owns the mailbox, the loop and the lifecycle; a
 * behaviour only answers messages. Plain services, xstate machines and supervisors are three
 * adapters to this one interface.
 */
export interface Behaviour {
  /** Runs once before the first message. Throwing or rejecting fails the start; returning IGNORE declines it. */
  start?(self: Actor): unknown;
  /**
   * Handles one message. The return value is the reply; a returned promise holds the mailbox
   * until it settles, so messages are still handled one at a time.
   */
  handle(method: string, args: unknown[]): unknown;
  /** Runs once when the actor stops normally or by shutdown (awaited), or crashes (not awaited). */
  terminate?(reason: ExitReason): unknown;
  /** Called when the actor is killed: must stop at once (a supervisor kills its children). */
  kill?(): void;
  describe?(): ServiceDescription;
}

/** Something that makes a fresh behaviour each time its actor is (re)started. */
export interface BehaviourFactory {
  readonly kind: 'behaviour';
  /** Short text for logs and the supervision tree, e.g. the class or machine name. */
  readonly label: string;
  create(): Behaviour;
}

/**
 * An error that answers the call and leaves the actor running: the runtime's own refusals
 * (no such method, bad arguments...) and a service's deliberate {@link Refusal}. Any other thrown
 * error also answers the call, then crashes the actor to its supervisor.
 */
export function isRefusal(error: unknown): boolean {
  return error instanceof Refusal || error instanceof QiactError;
}
