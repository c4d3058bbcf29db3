import type { TransferListItem } from 'node:worker_threads';

/**
 * `transfer(value)`: hand an ArrayBuffer's memory over to another thread instead of copying it,
 * as `postMessage`'s transfer list does. Used as an argument (or a result) of a call or a post:
 *
 *     await detector.find(transfer(frame))   // frame (a Uint8Array) is detached here afterwards
 *
 * Only the MessagePort path (a service in a worker thread) moves memory; in the same thread the
 * value is passed by reference anyway, and across processes its bytes are written to the socket
 * (as a view, not copied: see codec/large-bytes.ts) and the marker has no effect.
 */
const marked = new WeakMap<object, TransferListItem[]>();
/** Set once transfer() was ever called: until then, sending checks nothing. */
let used = false;

/**
 * Marks `value` so that its memory moves to the receiving thread: an ArrayBuffer moves itself, a
 * typed array or DataView its buffer; any other object (e.g. `{ width, height, data }`) moves
 * what `transferables` lists. Returns `value`.
 */
export function transfer<T extends object>(value: T, transferables?: TransferListItem[]): T {
  let list = transferables;
  if (list === undefined) {
    if (value instanceof ArrayBuffer) list = [value];
    else if (ArrayBuffer.isView(value)) list = [value.buffer as ArrayBuffer];
    else throw new TypeError('transfer(value, transferables): say what to transfer for an object that is not an ArrayBuffer or a view of one');
  }
  marked.set(value, list);
  used = true;
  return value;
}

/**
 * What to transfer with `messages` (their arguments and values marked by transfer()), each once;
 * undefined when nothing is marked. (A mark lives as long as its value: sent again, a detached
 * buffer cannot be cloned, and that message alone is refused.)
 */
export function transferListOf(messages: readonly unknown[]): TransferListItem[] | undefined {
  if (!used) return undefined;
  let found: Set<TransferListItem> | undefined;
  const take = (value: unknown): void => {
    if (typeof value !== 'object' || value === null) return;
    const list = marked.get(value);
    if (list === undefined) return;
    found ??= new Set();
    for (const item of list) found.add(item);
  };
  for (const message of messages) {
    const m = message as { args?: unknown; value?: unknown };
    if (Array.isArray(m.args)) for (const arg of m.args) take(arg);
    else take(m.value);
  }
  return found === undefined ? undefined : [...found];
}
