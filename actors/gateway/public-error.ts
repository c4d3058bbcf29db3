import { toWire } from '../../src/codec/wire-error.js';
import { ServiceError } from '../../src/errors.js';
import type { WireError } from '../../src/messages.js';

/** Address texts (`machine/process/thread[/actor]`) and endpoint URLs: the robot's inside. */
const ADDRESS = /[A-Za-z0-9._:-]{1,128}\/\d+\/\d+(?:\/\d+)?/g;
const ENDPOINT = /\b(?:unix|tcp|port|tls):\S+/g;

/** Fields of runtime errors that say what a client needs to act, and nothing of the inside. */
const KEPT = ['available', 'timeoutMs', 'limit', 'value', 'capacity', 'identity', 'reason', 'expected', 'got', 'parameter'];

function scrub(text: string): string {
  return text.replace(ENDPOINT, '<internal>').replace(ADDRESS, '<internal>');
}

/**
 * An error as an outside client may see it: the code, the class and what it needs to act (the
 * service and method it called, the limit...), with every internal address, endpoint and machine
 * id replaced by `<internal>`. A service's own error (ServiceError) keeps its name, message and
 * data: those are the service author's words for the caller. Stacks never cross anyway.
 */
export function publicError(error: unknown, service: string, method: string): WireError {
  const wire = toWire(error);
  if (error instanceof ServiceError) return wire;
  const data: Record<string, unknown> = { target: { service, method } };
  const from = (typeof wire.data === 'object' && wire.data !== null ? wire.data : {}) as Record<string, unknown>;
  for (const key of KEPT) {
    const value = from[key];
    if (value !== undefined) data[key] = typeof value === 'string' ? scrub(value) : value;
  }
  return { code: wire.code, name: wire.name, message: scrub(wire.message), data };
}
