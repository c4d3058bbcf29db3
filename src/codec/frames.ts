import { BadFrameError } from '../errors.js';

/**
 * Length-prefixed framing for every byte stream between nodes (Unix and TCP sockets):
 *
 *     +----------------------+-------------------------+
 *     | length: uint32 BE    | payload: `length` bytes |
 *     +----------------------+-------------------------+
 *
 * `length` counts the payload only, is at least 1 and at most the receiver's limit.
 */
export const HEADER_BYTES = 4;
/** Default largest payload a node accepts: 16 MiB. */
export const DEFAULT_MAX_FRAME = 16 * 1024 * 1024;

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
  #failed = false;

  constructor(
    private readonly onFrame: (payload: Buffer) => void,
    private readonly onError: (error: BadFrameError) => void,
    /** The largest payload accepted; may be raised between frames (once a peer proved itself). */
    public maxFrame: number = DEFAULT_MAX_FRAME,
  ) {}

  /** Bytes received but not yet handed out as a frame. */
  get buffered(): number {
    return this.#buffered;
  }

  push(chunk: Buffer): void {
    if (this.#failed || chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    for (;;) {
      if (this.#need < 0) {
        if (this.#buffered < HEADER_BYTES) return;
        const length = this.#take(HEADER_BYTES).readUInt32BE(0);
        if (length === 0) return this.#fail(new BadFrameError('empty', 'a frame length of 0'));
        if (length > this.maxFrame) {
          return this.#fail(new BadFrameError('too-large', `length ${length} exceeds the limit of ${this.maxFrame} bytes`, this.maxFrame));
        }
        this.#need = length;
      }
      if (this.#buffered < this.#need) return;
      const payload = this.#take(this.#need);
      this.#need = -1;
      this.onFrame(payload);
      if (this.#failed) return; // the frame handler closed us
    }
  }

  /**
   * The stream ended: a partial frame left over is an error (reported once); a clean end
   * between frames is not.
   */
  end(): void {
    if (this.#failed) return;
    if (this.#buffered > 0 || this.#need >= 0) {
      const what = this.#need < 0 ? `${this.#buffered} of ${HEADER_BYTES} header bytes` : `${this.#buffered} of ${this.#need} payload bytes`;
      this.#fail(new BadFrameError('truncated', `the stream ended inside a frame (${what})`));
    }
  }

  /** Stops decoding with `error` (e.g. the payload could not be decoded). */
  fail(error: BadFrameError): void {
    if (!this.#failed) this.#fail(error);
  }

  #fail(error: BadFrameError): void {
    this.#failed = true;
    this.#chunks = [];
    this.#buffered = 0;
    this.onError(error);
  }

  /** Removes and returns the next `n` buffered bytes: a view when they lie in one chunk. */
  #take(n: number): Buffer {
    this.#buffered -= n;
    const first = this.#chunks[0]!;
    if (first.length >= n) {
      if (first.length === n) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let at = 0;
    while (at < n) {
      const chunk = this.#chunks[0]!;
      const used = Math.min(chunk.length, n - at);
      chunk.copy(out, at, 0, used);
      at += used;
      if (used === chunk.length) this.#chunks.shift();
      else this.#chunks[0] = chunk.subarray(used);
    }
    return out;
  }
}
