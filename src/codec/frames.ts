import { BadFrameError } from '../errors.js';

/**
 * Length-prefixed framing for every byte stream between nodes (Unix and TCP sockets):
 *
 *     +----------------------+-------------------------+
 *     | length: uint32 BE    | payload: `length` bytes |
 *     +----------------------+-------------------------+
 *
 * `length` counts the payload only, is at least 1 and at most the receiver's limit.
 *
 * Sliced frames (once both ends offered them in the handshake): a large payload may be cut in
 * slices sent as frames of their own, so that other frames can go between them. The two top bits
 * of the header say which: 00 a whole payload, 10 a slice with more to come, 11 the last slice;
 * the other 30 bits are the frame's length. The first slice of a payload starts with the whole
 * payload's length (uint32 BE). One sliced payload at a time per direction; whole frames may come
 * between its slices. Bits 01 are a window update, 4 bytes long: how many payload bytes of slices
 * the receiver has read since its last update (a sender keeps at most a window of slices unread,
 * so that the kernel's socket buffers never hold more than that ahead of a small frame).
 */
export const HEADER_BYTES = 4;
/** Default largest payload a node accepts: 16 MiB. */
export const DEFAULT_MAX_FRAME = 16 * 1024 * 1024;
/** The header bits of sliced frames, and the largest length the other 30 bits can say. */
export const SLICE_BIT = 0x80000000;
export const LAST_SLICE_BIT = 0x40000000;
export const SLICED_LENGTH_MASK = 0x3fffffff;
/**
 * A whole frame of this many bytes or more whose rest is still to come gets its own memory when
 * its header is read, and each read's share is copied there as it comes: one copy and one buffer
 * per frame, where keeping the pieces and joining them at the end made both twice (a frame over
 * TLS always spans reads: 16 KiB records). Smaller pieces come from Node's shared pool anyway.
 * Up to FILL_MAX_BYTES (a larger whole frame, from a peer that does not slice, is kept in pieces
 * as it comes), and only once a FILL_AFTER_SHARE-th of it came (a TLS record's worth for 256 KiB):
 * a peer not yet known cannot make us hold a frame's memory with its header alone.
 */
const FILL_MIN_BYTES = 4 * 1024;
const FILL_MAX_BYTES = 256 * 1024;
const FILL_AFTER_SHARE = 16;
/** A window update's payload: a uint32. */
export const WINDOW_UPDATE_BYTES = 4;

/** A window update frame: the receiver read `bytes` more payload bytes of slices. */
export function windowUpdate(bytes: number): Buffer {
  const frame = Buffer.allocUnsafe(HEADER_BYTES + WINDOW_UPDATE_BYTES);
  frame.writeUInt32BE((LAST_SLICE_BIT | WINDOW_UPDATE_BYTES) >>> 0, 0);
  frame.writeUInt32BE(bytes, HEADER_BYTES);
  return frame;
}

/** The 4-byte header of a payload of `length` bytes (write it, then the payload: no copy). */
export function frameHeader(length: number): Buffer {
  const header = Buffer.allocUnsafe(HEADER_BYTES);
  header.writeUInt32BE(length, 0);
  return header;
}

/** One whole frame in one buffer (for tests and small writes; sockets use writev instead). */
export function encodeFrame(payload: Uint8Array): Buffer {
  return Buffer.concat([frameHeader(payload.length), payload]);
}

/**
 * Cuts a byte stream into frame payloads. An explicit two-state loop (header, then body): the
 * length is checked against the limit as soon as the header is complete, before anything of the
 * body is kept, so a lying peer cannot make us buffer more than one limit. A payload that
 * arrived whole inside one chunk is handed out as a view of it, not a copy.
 *
 * After the first error the decoder is closed: the error is reported once (`onError`) and any
 * further input is ignored, since nothing after a framing error can be trusted.
 */
export class FrameDecoder {
  #chunks: Buffer[] = [];
  #buffered = 0;
  /** Payload length of the frame being read, or -1 while reading a header. */
  #need = -1;
  /** The header bits of the frame being read (sliced mode only): 0, SLICE_BIT, or both bits. */
  #flags = 0;
  /** The payload being put together from its slices, and how much of it has come. */
  #assembly: Buffer | null = null;
  #assembled = 0;
  /** The whole frame being read, when it spans reads and is of a size to get its memory at once (see #read). */
  #whole: Buffer | null = null;
  #failed = false;
  /** Sliced frames are understood (both ends offered them in the handshake). */
  sliced = false;
  /** The peer read `bytes` more of our slices (a window update came). */
  onWindow: (bytes: number) => void = () => {};
  /** We read `bytes` more of the peer's slices (`last`: its payload is whole now). */
  onSliceRead: (bytes: number, last: boolean) => void = () => {};
  /** Where a sliced payload is put together: `length` bytes, each written before the payload is handed out. */
  allocate: (length: number) => Buffer = Buffer.allocUnsafeSlow;

  constructor(
    /** `assembled`: the payload was put together from slices in a buffer from `allocate`. */
    private readonly onFrame: (payload: Buffer, assembled: boolean) => void,
    private readonly onError: (error: BadFrameError) => void,
    /** The largest payload accepted; may be raised between frames (once a peer proved itself). */
    public maxFrame: number = DEFAULT_MAX_FRAME,
  ) {}

  /** Bytes received but not yet handed out as a frame. */
  get buffered(): number {
    return this.#buffered;
  }

  /**
   * Reads `chunk`. `transient`: its memory is used again once this returns (a socket's reads into
   * one buffer of the thread, transport/shared-reads.ts), so what is kept of it is copied: every
   * payload handed out is then memory of its own. A sliced payload, and a whole frame of 4-256 KiB
   * across reads, are put together in their own memory as they come (copied once); the start of
   * any other frame whose rest is still to come is kept as a copy and joined at the end (twice).
   */
  push(chunk: Buffer, transient = false): void {
    if (this.#failed || chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    this.#read(transient ? chunk.buffer : null);
    // The rest of a transient chunk (the start of a frame) is copied; earlier leftovers were.
    if (transient && this.#chunks.length > 0) {
      const last = this.#chunks.length - 1;
      if (this.#chunks[last]!.buffer === chunk.buffer) this.#chunks[last] = Buffer.from(this.#chunks[last]!);
    }
  }

  /** Hands out every whole frame there is; a payload that is a view of `transient` is copied first. */
  #read(transient: ArrayBufferLike | null): void {
    for (;;) {
      if (this.#need < 0) {
        if (this.#buffered < HEADER_BYTES) return;
        const word = this.#take(HEADER_BYTES).readUInt32BE(0);
        const length = this.sliced ? word & SLICED_LENGTH_MASK : word;
        this.#flags = this.sliced ? word - length : 0;
        if (length === 0) return this.#fail(new BadFrameError('empty', 'a frame length of 0'));
        // (A first slice carries 4 bytes of length besides its share of a payload within the limit.)
        if (length > this.maxFrame + (this.#flags === 0 ? 0 : HEADER_BYTES)) {
          return this.#fail(new BadFrameError('too-large', `length ${length} exceeds the limit of ${this.maxFrame} bytes`, this.maxFrame));
        }
        if (this.#flags === LAST_SLICE_BIT && length !== WINDOW_UPDATE_BYTES) return this.#fail(new BadFrameError('slice', `a window update of ${length} bytes, not ${WINDOW_UPDATE_BYTES}`));
        this.#need = length;
      }
      if (this.#flags === LAST_SLICE_BIT) {
        if (this.#buffered < WINDOW_UPDATE_BYTES) return;
        this.#need = -1;
        this.onWindow(this.#take(WINDOW_UPDATE_BYTES).readUInt32BE(0));
        if (this.#failed) return;
        continue;
      }
      if (this.#flags !== 0) {
        if (!this.#slice()) return;
        continue;
      }
      if (this.#whole === null && this.#buffered < this.#need) {
        if (this.#need < FILL_MIN_BYTES || this.#need > FILL_MAX_BYTES || this.#buffered * FILL_AFTER_SHARE < this.#need) return;
        // A frame that spans reads gets its own memory now, and each read's share is copied there.
        this.#whole = Buffer.allocUnsafeSlow(this.#need);
      }
      let payload: Buffer;
      if (this.#whole !== null) {
        const whole = this.#whole;
        const n = Math.min(this.#need, this.#buffered);
        this.#takeInto(whole, whole.length - this.#need, n);
        this.#need -= n;
        if (this.#need > 0) return;
        this.#whole = null;
        payload = whole;
      } else {
        payload = this.#take(this.#need);
        if (payload.buffer === transient) payload = Buffer.from(payload);
      }
      this.#need = -1;
      this.onFrame(payload, false);
      if (this.#failed) return; // the frame handler closed us
    }
  }

  /**
   * Reads what there is of a slice straight into the payload being put together (one copy, as it
   * comes: a large payload never waits whole in chunks, nor is copied at once). True once the
   * slice is read; on its last slice the payload is handed out.
   */
  #slice(): boolean {
    if (this.#assembly === null) {
      // The first slice: its first 4 bytes are the whole payload's length.
      if (this.#buffered < HEADER_BYTES) return false;
      if (this.#need <= HEADER_BYTES) return this.#refuse(new BadFrameError('slice', `a first slice of ${this.#need} bytes holds no payload`));
      const total = this.#take(HEADER_BYTES).readUInt32BE(0);
      this.#need -= HEADER_BYTES;
      if (total > this.maxFrame) return this.#refuse(new BadFrameError('too-large', `a sliced payload of ${total} bytes exceeds the limit of ${this.maxFrame} bytes`, this.maxFrame));
      if (total < this.#need) return this.#refuse(new BadFrameError('slice', `a slice of ${this.#need} bytes is longer than its payload of ${total}`));
      this.#assembly = this.allocate(total);
      this.#assembled = 0;
    }
    const assembly = this.#assembly;
    if (this.#assembled + this.#need > assembly.length) {
      return this.#refuse(new BadFrameError('slice', `the slices come to more than their payload's ${assembly.length} bytes`));
    }
    const n = Math.min(this.#need, this.#buffered);
    this.#takeInto(assembly, this.#assembled, n);
    this.#assembled += n;
    this.#need -= n;
    const last = this.#need === 0 && this.#flags !== SLICE_BIT;
    if (n > 0) this.onSliceRead(n, last);
    if (this.#need > 0) return false;
    this.#need = -1;
    if (this.#flags === SLICE_BIT) return true;
    if (this.#assembled !== assembly.length) {
      return this.#refuse(new BadFrameError('slice', `the last slice ends the payload at ${this.#assembled} of its ${assembly.length} bytes`));
    }
    this.#assembly = null;
    this.onFrame(assembly, true);
    return !this.#failed;
  }

  /**
   * The stream ended: a partial frame left over is an error (reported once); a clean end
   * between frames is not.
   */
  end(): void {
    if (this.#failed) return;
    if (this.#buffered > 0 || this.#need >= 0 || this.#assembly !== null) {
      const what =
        this.#assembly !== null
          ? `${this.#assembled} of a sliced payload's ${this.#assembly.length} bytes`
          : this.#whole !== null
            ? `${this.#whole.length - this.#need} of ${this.#whole.length} payload bytes`
            : this.#need < 0
              ? `${this.#buffered} of ${HEADER_BYTES} header bytes`
              : `${this.#buffered} of ${this.#need} payload bytes`;
      this.#fail(new BadFrameError('truncated', `the stream ended inside a frame (${what})`));
    }
  }

  /** Stops decoding with `error` (e.g. the payload could not be decoded). */
  fail(error: BadFrameError): void {
    if (!this.#failed) this.#fail(error);
  }

  #refuse(error: BadFrameError): false {
    this.#fail(error);
    return false;
  }

  #fail(error: BadFrameError): void {
    this.#failed = true;
    this.#assembly = null;
    this.#whole = null;
    this.#chunks = [];
    this.#buffered = 0;
    this.onError(error);
  }

  /** Removes and returns the next `n` buffered bytes: a view when they lie in one chunk. */
  #take(n: number): Buffer {
    const first = this.#chunks[0]!;
    if (first.length >= n) {
      this.#buffered -= n;
      if (first.length === n) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    this.#takeInto(out, 0, n);
    return out;
  }

  /** Removes the next `n` buffered bytes (n <= buffered) by copying them into `target` at `at`. */
  #takeInto(target: Buffer, at: number, n: number): void {
    this.#buffered -= n;
    while (n > 0) {
      const chunk = this.#chunks[0]!;
      const used = Math.min(chunk.length, n);
      chunk.copy(target, at, 0, used);
      at += used;
      n -= used;
      if (used === chunk.length) this.#chunks.shift();
      else this.#chunks[0] = chunk.subarray(used);
    }
  }
}
