import * as errors from '../errors.js';
import { ErrorCode, QiactError, ServiceError, type CallTarget } from '../errors.js';
import type { WireError } from '../messages.js';

/** Fields every error has, never copied into `data`. */
const OWN = new Set(['name', 'message', 'stack', 'cause', 'code']);

/** The runtime's error classes by name, to rebuild the same class on the caller's side. */
const CLASSES = new Map<string, typeof QiactError>();
for (const value of Object.values(errors)) {
  if (typeof value === 'function' && value.prototype instanceof QiactError) CLASSES.set(value.name, value as typeof QiactError);
}

/**
 * How an error crosses a link. A service's own error keeps its name, message and data; a
 * runtime error keeps its class name, code and fields (target, limit...), so the caller gets
 * the same typed error it would get in-thread. Stacks never cross: they describe the other side.
 */
export function toWire(error: unknown): WireError {
  if (error instanceof ServiceError) {
    return { code: ErrorCode.ServiceError, name: error.remoteName, message: error.remoteMessage, data: plain(error.data), ...(error.crashed ? { crashed: true } : {}) };
  }
  if (error instanceof QiactError) {
    const data: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(error)) if (!OWN.has(key)) data[key] = plain(value);
    return { code: error.code, name: error.name, message: error.message, data };
  }
  if (error instanceof Error) return { code: ErrorCode.ServiceError, name: error.name, message: error.message, data: plain((error as { data?: unknown }).data) };
  return { code: ErrorCode.ServiceError, name: 'Error', message: String(error) };
}

/** Rebuilds the typed error of a `fail` message; `target` is the call as the caller made it. */
export function fromWire(wire: unknown, target: CallTarget): Error {
  const w = (typeof wire === 'object' && wire !== null ? wire : {}) as Partial<WireError>;
  const name = typeof w.name === 'string' ? w.name : 'Error';
  const message = typeof w.message === 'string' ? w.message : 'no message';
  if (w.code === ErrorCode.ServiceError) return new ServiceError(target, name, message, w.data, { crashed: w.crashed === true });
  const cls = CLASSES.get(name);
  if (cls !== undefined && cls.name !== 'ServiceError') {
    // A real Error of that class, built without its constructor (whose arguments differ per
    // class), then given its fields.
    const error = Reflect.construct(Error, [message], cls) as QiactError & Record<string, unknown>;
    Object.defineProperty(error, 'name', { value: name, enumerable: true });
    Object.assign(error, typeof w.data === 'object' && w.data !== null ? w.data : {});
    Object.defineProperty(error, 'code', { value: w.code ?? ErrorCode.ServiceError, enumerable: true });
    return error;
  }
  return new QiactError(typeof w.code === 'string' ? (w.code as ErrorCode) : ErrorCode.ServiceError, `${name}: ${message}`);
}

/** Only data survives a link: errors and other class instances become plain maps. */
function plain(value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message };
  return value;
}
