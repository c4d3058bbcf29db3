import { InvalidAddressError } from './errors.js';

/** An actor's number inside its node; never reused while the node lives. */
export type ActorId = number & { readonly __brand: 'ActorId' };

/** Where two actors stand relative to each other; the router picks the path from this alone. */
export type Locality = 'same-thread' | 'same-process' | 'same-machine' | 'other-machine';

/**
 * How a message reaches its receiver: the router's choice, from the two addresses alone; or,
 * for a client outside the robot, through the Gateway or an XMPP server.
 */
export type Path = 'direct' | 'port' | 'unix' | 'tcp' | 'tls' | 'gateway' | 'xmpp';

const MACHINE_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const DECIMAL = /^(0|[1-9][0-9]{0,15})$/;

const isIndex = (n: number): boolean => Number.isSafeInteger(n) && n >= 0;

/**
 * The `machineId/processId/threadId/` of the last address made: a node makes all its actors'
 * addresses with the same one, and sharing it keeps each address's text to its own digits.
 */
let lastPrefix = { machineId: '', processId: -1, threadId: -1, text: '' };

function prefixOf(machineId: string, processId: number, threadId: number): string {
  const last = lastPrefix;
  if (last.machineId === machineId && last.processId === processId && last.threadId === threadId) return last.text;
  lastPrefix = { machineId, processId, threadId, text: `${machineId}/${processId}/${threadId}/` };
  return lastPrefix.text;
}

function decimal(text: string, part: string, digits: string): number {
  if (!DECIMAL.test(digits)) throw new InvalidAddressError(text, `${part} '${digits}' is not a decimal integer`);
  return Number(digits);
}

/**
 * `machineId/processId/threadId/actorId`. Immutable; the canonical text form is computed once
 * and parses back to an equal address.
 */
export class Address {
  readonly text: string;
  constructor(
    readonly machineId: string,
    readonly processId: number,
    readonly threadId: number,
    readonly actorId: ActorId,
  ) {
    // The machineId of the last address made was checked then: a node makes every address with its own.
    if (machineId !== lastPrefix.machineId && !MACHINE_ID.test(machineId)) {
      throw new InvalidAddressError(typeof machineId === 'string' ? machineId : `(${typeof machineId})`, 'machineId must be 1-128 of [A-Za-z0-9._:-]');
    }
    // Checked without building a list: a node makes one address per actor it starts.
    const bad = !isIndex(processId) ? 'processId' : !isIndex(threadId) ? 'threadId' : !isIndex(actorId) ? 'actorId' : null;
    if (bad !== null) throw new InvalidAddressError(`${machineId}/${processId}/${threadId}/${actorId}`, `${bad} must be a non-negative integer`);
    this.text = prefixOf(machineId, processId, threadId) + actorId;
  }

  /** Parses the canonical text form; throws InvalidAddressError naming the bad part. */
  static parse(text: string): Address {
    if (typeof text !== 'string') throw new InvalidAddressError(`(${typeof text})`, 'not a string');
    // Most texts parsed name an actor of the node whose prefix was used last (a directory's own
    // node, or the node registering its services one after another): only the actor id is read.
    const last = lastPrefix;
    if (last.text !== '' && text.startsWith(last.text)) {
      const digits = text.slice(last.text.length);
      if (DECIMAL.test(digits)) return new Address(last.machineId, last.processId, last.threadId, Number(digits) as ActorId);
    }
    const parts = text.split('/');
    if (parts.length !== 4) throw new InvalidAddressError(text, 'expected machineId/processId/threadId/actorId');
    const [machine, pid, tid, aid] = parts as [string, string, string, string];
    if (!MACHINE_ID.test(machine)) throw new InvalidAddressError(text, 'machineId must be 1-128 of [A-Za-z0-9._:-]');
    return new Address(machine, decimal(text, 'processId', pid), decimal(text, 'threadId', tid), decimal(text, 'actorId', aid) as ActorId);
  }

  equals(other: Address): boolean {
    return this.text === other.text;
  }

  /** How `other` stands relative to this address. */
  localityOf(other: Address): Locality {
    if (this.machineId !== other.machineId) return 'other-machine';
    if (this.processId !== other.processId) return 'same-machine';
    if (this.threadId !== other.threadId) return 'same-process';
    return 'same-thread';
  }

  toString(): string {
    return this.text;
  }

  toJSON(): string {
    return this.text;
  }
}
