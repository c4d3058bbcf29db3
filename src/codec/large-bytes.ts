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
 * Encodes `message` as plain CBOR, as `encode` alone would give it but with each large byte
 * string or typed array of its arguments or value left out of the copy: returns the encoder's
 * own Buffer when there is none (the common case, nothing added), else the parts.
 *
 * How: the views are swapped for 16-byte markers (fresh random bytes of this process plus an
 * index) on copies of the containers that hold them (the caller's objects are not touched),
 * the message is encoded, and each marker's byte string in the output is replaced by the view's
 * own CBOR head (tag and length) and its bytes. A marker can only be found where one was put,
 * short of guessing 96 random bits.
 *
 * Aligned: a typed array's elements are put at a multiple of their size from the payload's start,
 * so that a receiver holding the payload in a buffer of its own (any payload over one socket read)
 * decodes it as a view of that buffer; cbor-x copies an unaligned one (13 % of a service's time
 * when it echoes a 64 KiB Float32Array across processes). The first is aligned by a `pad` field put
 * first in the message (a byte string of 0-7 bytes: PROTOCOL.md says receivers ignore it), any
 * other by the widths of its head where those can (see headOf: always below 64 KiB with elements
 * of 2 or 4 bytes).
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
  const padded = views.some((view) => alignmentOf(view) > 1);
  try {
    return splice(encode, encode(padded ? { pad: PAD_MARKER, ...(swapped as object) } : swapped), views, padded);
  } finally {
    views.length = 0; // hold no caller's memory past the call
  }
}

/**
 * The parts of `encoded`, with each of `views`' markers replaced by the view's head and bytes,
 * and (`padded`) the pad's marker by the pad that aligns the first view.
 */
function splice(encode: (message: unknown) => Buffer, encoded: Buffer, views: readonly View[], padded: boolean): EncodedParts {
  const parts: Uint8Array[] = [];
  let length = 0;
  let from = 0;
  // Where the pad goes in `parts`: 0 bytes until the first view to align says how many.
  let pad = -1;
  if (padded) {
    const padAt = encoded.indexOf(PAD_MARKER_ENCODED);
    if (padAt < 0) throw new Error('the pad was not found in its own encoding'); // cannot happen: it was put there
    parts.push(encoded.subarray(0, padAt), PADS[0]!);
    pad = 1;
    length = padAt + PADS[0]!.length;
    from = padAt + PAD_MARKER_ENCODED_BYTES;
  }
  for (let i = 0; i < views.length; i++) {
    const at = encoded.indexOf(markerBytes(i), from);
    if (at < 0) throw new Error('a large view was not found in its own encoding'); // cannot happen: see above
    const view = views[i]!;
    const bytes = ArrayBuffer.isView(view) ? new Uint8Array(view.buffer, view.byteOffset, view.byteLength) : new Uint8Array(view);
    const tag = tagFor(encode, view);
    length += at - from;
    const align = alignmentOf(view);
    if (pad >= 0 && align > 1) {
      const misaligned = (length + smallestHeadBytes(tag, bytes.byteLength)) % align;
      const bytesToAdd = misaligned === 0 ? 0 : align - misaligned;
      parts[pad] = PADS[bytesToAdd]!;
      length += bytesToAdd;
      pad = -1;
    }
    const head = headOf(tag, view, bytes.byteLength, length);
    parts.push(encoded.subarray(from, at), head, bytes);
    length += head.length + bytes.byteLength;
    from = at + MARKER_ENCODED_BYTES;
  }
  parts.push(encoded.subarray(from));
  length += encoded.length - from;
  return { parts, length };
}

/** How far apart a view's elements must start to be read in place: their size (1 for bytes). */
function alignmentOf(view: View): number {
  return ArrayBuffer.isView(view) ? ((view as unknown as { BYTES_PER_ELEMENT?: number }).BYTES_PER_ELEMENT ?? 1) : 1;
}

/** The pad field's value while encoding (a 16-byte string no one else writes), and the pads of 0-7 bytes that replace it. */
const PAD_MARKER = Buffer.concat([randomBytes(12), Buffer.from([0xff, 0xff, 0xff, 0xff])]);
const PAD_MARKER_ENCODED = Buffer.concat([Buffer.of(0x50), PAD_MARKER]);
const PAD_MARKER_ENCODED_BYTES = PAD_MARKER_ENCODED.length;
const PADS = Array.from({ length: 8 }, (_, n) => Buffer.concat([Buffer.of(0x40 | n), Buffer.alloc(n)]));

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

/** The tag cbor-x puts before a view of each class (-1: none, as for Buffer and ArrayBuffer), learnt from cbor-x itself. */
const tags = new Map<unknown, number>();

/** The tag of `view`'s class (see tags). */
function tagFor(encode: (message: unknown) => Buffer, view: View): number {
  const ctor = (view as object).constructor;
  let tag = tags.get(ctor);
  if (tag === undefined) {
    // An empty view of the class encodes as [tag] 0x40.
    const empty = view instanceof ArrayBuffer ? new ArrayBuffer(0) : Buffer.isBuffer(view) ? Buffer.alloc(0) : new (ctor as new (n: number) => ArrayBufferView)(0);
    tag = tagOf(encode(empty));
    tags.set(ctor, tag);
  }
  return tag;
}

/**
 * The CBOR head of `view` (its `tag`, if any, and a byte-string head of `length`), to be written
 * at `offset` in the payload. For a typed array of elements wider than a byte, the tag and the
 * length are written in the narrowest widths (RFC 8949 lets an integer take any of them) that put
 * the first element at a multiple of the element size; in the narrowest when none does.
 */
function headOf(tag: number, view: View, length: number, offset: number): Buffer {
  const align = tag < 0 ? 1 : alignmentOf(view);
  const lengthWidths = lengthWidthsOf(length);
  const tagWidths = tagWidthsOf(tag);
  let tagWidth = tagWidths[0]!;
  let lengthWidth = lengthWidths[0]!;
  search: for (const t of tagWidths) {
    for (const l of lengthWidths) {
      if ((offset + headBytes(tag, t, l)) % align !== 0) continue;
      tagWidth = t;
      lengthWidth = l;
      break search;
    }
  }
  const head = Buffer.allocUnsafe(headBytes(tag, tagWidth, lengthWidth));
  const at = tag < 0 ? 0 : writeHead(head, 0, MAJOR_TAG, tag, tagWidth);
  writeHead(head, at, MAJOR_BYTES, length, lengthWidth);
  return head;
}

function headBytes(tag: number, tagWidth: number, lengthWidth: number): number {
  return (tag < 0 ? 0 : 1 + tagWidth) + 1 + lengthWidth;
}

/** The size of the narrowest head of a view with `tag` and `length` bytes. */
function smallestHeadBytes(tag: number, length: number): number {
  return headBytes(tag, tagWidthsOf(tag)[0]!, lengthWidthsOf(length)[0]!);
}

/** The widths a tag's number may be written in, narrowest first (NO_TAG: none is written). */
function tagWidthsOf(tag: number): readonly number[] {
  return tag < 0 ? NO_TAG : tag < 24 ? WIDTHS_FROM_0 : tag < 0x100 ? WIDTHS_FROM_1 : WIDTHS_FROM_2;
}

/**
 * The widths a byte string's length may be written in, narrowest first. Not 8 bytes for a length
 * that fits in 4: cbor-x with its native helper (cbor-extract, which this runtime does not load but
 * a peer in JavaScript may) refuses an 8-byte length of 256 or more.
 */
function lengthWidthsOf(length: number): readonly number[] {
  return length < 0x10000 ? LENGTH_WIDTHS_FROM_2 : length < 0x100000000 ? LENGTH_WIDTHS_FROM_4 : WIDTHS_FROM_8;
}

const MAJOR_BYTES = 0x40;
const MAJOR_TAG = 0xc0;
/** The widths of an integer's argument in a CBOR head, from the narrowest that holds it. */
const WIDTHS_FROM_0 = [0, 1, 2, 4, 8];
const WIDTHS_FROM_1 = [1, 2, 4, 8];
const WIDTHS_FROM_2 = [2, 4, 8];
const WIDTHS_FROM_8 = [8];
const LENGTH_WIDTHS_FROM_2 = [2, 4];
const LENGTH_WIDTHS_FROM_4 = [4];
const NO_TAG = [0];

/** Writes a CBOR head (major type, then `value` as an argument of `width` bytes) at `at`; returns the end. */
function writeHead(out: Buffer, at: number, major: number, value: number, width: number): number {
  if (width === 0) {
    out[at] = major | value;
    return at + 1;
  }
  out[at] = major | (width === 1 ? 24 : width === 2 ? 25 : width === 4 ? 26 : 27);
  if (width === 1) out[at + 1] = value;
  else if (width === 2) out.writeUInt16BE(value, at + 1);
  else if (width === 4) out.writeUInt32BE(value, at + 1);
  else out.writeBigUInt64BE(BigInt(value), at + 1);
  return at + 1 + width;
}

/** The tag number at the start of `encoded` (an empty view as cbor-x writes it), or -1 for none. */
function tagOf(encoded: Buffer): number {
  const first = encoded[0]!;
  if (first >> 5 !== MAJOR_TAG >> 5) return -1;
  const info = first & 0x1f;
  return info < 24 ? info : info === 24 ? encoded[1]! : encoded.readUInt16BE(1);
}
