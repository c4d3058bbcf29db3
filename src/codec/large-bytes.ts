import { randomBytes } from 'node:crypto';
import { endianness } from 'node:os';

/**
 * Bytes and typed arrays of at least this many bytes leave a socket link as views: the frame is
 * written as [CBOR before it][its CBOR head][its own bytes][CBOR after it], never copied into the
 * encoder's buffer. Below this, a copy costs less than the extra writes.
 */
export const LARGE_BYTES = 16 * 1024;
/** How deep in an argument or a value large views are looked for (`args[0].image.data` is 3). */
const MAX_DEPTH = 4;

/** One encoded payload as the pieces to write in order, and its length in bytes. */
export interface EncodedParts {
  readonly parts: Uint8Array[];
  readonly length: number;
}

type View = ArrayBufferView | ArrayBuffer;

/**
 * Encodes `message` as plain CBOR, byte for byte what `encode` alone would give, but with each
 * large byte string or typed array of its arguments or value left out of the copy: returns the
 * encoder's own Buffer when there is none (the common case, nothing added), else the parts.
 *
 * How: the views are swapped for 16-byte markers (fresh random bytes of this process plus an
 * index) on copies of the containers that hold them (the caller's objects are not touched),
 * the message is encoded, and each marker's byte string in the output is replaced by the view's
 * own CBOR head (tag and length, as cbor-x writes them) and its bytes. A marker can only be found
 * where one was put, short of guessing 96 random bits.
 */
export function encodeParts(encode: (message: unknown) => Buffer, message: unknown): Buffer | EncodedParts {
  if (!LITTLE_ENDIAN) return encode(message); // the typed-array tags below are the little-endian ones
  const m = message as { args?: unknown; value?: unknown };
  // One list for every call (encoding is synchronous, never re-entered): no allocation per message.
  const views = found;
  views.length = 0;
  let swapped: unknown = message;
  if (Array.isArray(m.args)) {
    const args = swapMarkers(m.args, 1, views);
    if (args !== m.args) swapped = { ...m, args };
  } else if (typeof m.value === 'object' && m.value !== null) {
    const value = swapMarkers(m.value, 1, views);
    if (value !== m.value) swapped = { ...m, value };
  }
  if (views.length === 0) return encode(message);
  try {
    return splice(encode, encode(swapped), views);
  } finally {
    views.length = 0; // hold no caller's memory past the call
  }
}

/** The parts of `encoded`, with each of `views`' markers replaced by the view's head and bytes. */
function splice(encode: (message: unknown) => Buffer, encoded: Buffer, views: readonly View[]): EncodedParts {
  const parts: Uint8Array[] = [];
  let length = 0;
  let from = 0;
  for (let i = 0; i < views.length; i++) {
    const at = encoded.indexOf(markerBytes(i), from);
    if (at < 0) throw new Error('a large view was not found in its own encoding'); // cannot happen: see above
    const view = views[i]!;
    const bytes = ArrayBuffer.isView(view) ? new Uint8Array(view.buffer, view.byteOffset, view.byteLength) : new Uint8Array(view);
    const head = headOf(encode, view, bytes.byteLength);
    parts.push(encoded.subarray(from, at), head, bytes);
    length += at - from + head.length + bytes.byteLength;
    from = at + MARKER_ENCODED_BYTES;
  }
  parts.push(encoded.subarray(from));
  length += encoded.length - from;
  return { parts, length };
}

/** The large views found in the message being encoded (see encodeParts). */
const found: View[] = [];

/** `value` with its large views (down to MAX_DEPTH) swapped for markers: the same object if it has none. */
function swapMarkers(value: unknown, depth: number, views: View[]): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (isLarge(value)) {
    views.push(value);
    return marker(views.length - 1);
  }
  if (depth >= MAX_DEPTH) return value;
  if (Array.isArray(value)) {
    let copy: unknown[] | null = null;
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      const swapped = swapMarkers(item, depth + 1, views);
      if (swapped !== item) (copy ??= [...value])[i] = swapped;
    }
    return copy ?? value;
  }
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) return value;
  let copy: Record<string, unknown> | null = null;
  for (const key in value) {
    const item = (value as Record<string, unknown>)[key];
    const swapped = swapMarkers(item, depth + 1, views);
    if (swapped !== item) (copy ??= { ...(value as Record<string, unknown>) })[key] = swapped;
  }
  return copy ?? value;
}

/** A byte string or typed array cbor-x writes as one byte string (with its tag), and large. */
function isLarge(value: object): value is View {
  if (value instanceof ArrayBuffer) return value.byteLength >= LARGE_BYTES;
  return ArrayBuffer.isView(value) && !(value instanceof DataView) && value.byteLength >= LARGE_BYTES;
}

const LITTLE_ENDIAN = endianness() === 'LE';
/** 12 random bytes of this process, then the marker's index (uint32). */
const MARKER_PREFIX = randomBytes(12);
/** A 16-byte CBOR byte string: its head (0x50) and the 16 bytes. */
const MARKER_ENCODED_BYTES = 17;
const markers: Buffer[] = [];
const markersEncoded: Buffer[] = [];

function marker(index: number): Buffer {
  let m = markers[index];
  if (m === undefined) {
    m = Buffer.alloc(16);
    MARKER_PREFIX.copy(m);
    m.writeUInt32BE(index, 12);
    markers[index] = m;
    markersEncoded[index] = Buffer.concat([Buffer.of(0x50), m]);
  }
  return m;
}

function markerBytes(index: number): Buffer {
  return markersEncoded[index]!;
}

/** The tag cbor-x puts before a view of each class (none for Buffer and ArrayBuffer), learnt from cbor-x itself. */
const tagPrefixes = new Map<unknown, Buffer>();

/** The CBOR head of `view`: its tag, if cbor-x writes one for its class, and a byte-string head of `length`. */
function headOf(encode: (message: unknown) => Buffer, view: View, length: number): Buffer {
  const ctor = (view as object).constructor;
  let prefix = tagPrefixes.get(ctor);
  if (prefix === undefined) {
    // An empty view of the class encodes as [tag] 0x40: the tag is all but the last byte.
    const empty = view instanceof ArrayBuffer ? new ArrayBuffer(0) : Buffer.isBuffer(view) ? Buffer.alloc(0) : new (ctor as new (n: number) => ArrayBufferView)(0);
    prefix = Buffer.from(encode(empty).subarray(0, -1));
    tagPrefixes.set(ctor, prefix);
  }
  const head = Buffer.allocUnsafe(prefix.length + (length < 0x10000 ? 3 : length < 0x100000000 ? 5 : 9));
  prefix.copy(head);
  let at = prefix.length;
  if (length < 0x10000) {
    head[at++] = 0x59;
    head.writeUInt16BE(length, at);
  } else if (length < 0x100000000) {
    head[at++] = 0x5a;
    head.writeUInt32BE(length, at);
  } else {
    head[at++] = 0x5b;
    head.writeBigUInt64BE(BigInt(length), at);
  }
  return head;
}
