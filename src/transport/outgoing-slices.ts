import { HEADER_BYTES, LAST_SLICE_BIT, SLICE_BIT } from '../codec/frames.js';

/** The largest slice a payload is cut into. */
export const SLICE_BYTES = 256 * 1024;
/**
 * Slice bytes a sender may have on the way that the receiver has not yet said it read: what a
 * small frame may find ahead of it, kernel buffers included (about 0.5 ms at 1 GB/s). Measured
 * with 1 MiB too: the same throughput, twice the wait of a small call behind a large payload.
 */
export const WINDOW_BYTES = 512 * 1024;
/** A receiver says what it read once it has read this much (and at the end of each payload). */
export const WINDOW_UPDATE_EVERY = 128 * 1024;

/** A payload waiting to be written: sliced (large), or whole (small, kept in order behind one). */
interface Outgoing {
  readonly parts: readonly Uint8Array[];
  readonly length: number;
  readonly key: string;
  readonly sliced: boolean;
  /** How far the slices have got: bytes sent, and where in `parts` the next one starts. */
  sent: number;
  part: number;
  offset: number;
}

/**
 * The payloads a socket link holds back, in order: large ones to be sent in slices, and the small
 * ones that must stay behind them (same order key; see orderKeyOf). A small payload with another
 * key does not wait here: it goes to the socket at once, between two slices.
 */
export class OutgoingSlices {
  readonly #queue: Outgoing[] = [];
  readonly #keys = new Map<string, number>();
  /** Bytes held here, not yet handed to the socket. */
  #bytes = 0;

  get empty(): boolean {
    return this.#queue.length === 0;
  }
  get bytes(): number {
    return this.#bytes;
  }
  /** Bytes held here apart from the payload being sliced out now (what a write-buffer limit counts). */
  get bytesBehind(): number {
    const head = this.#queue[0];
    return head === undefined ? 0 : this.#bytes - (head.length - head.sent);
  }

  /** True if a payload with `key` must wait behind what is held here to keep its order. */
  mustWait(key: string): boolean {
    if (this.#queue.length === 0) return false;
    return key === '*' || this.#keys.has('*') || this.#keys.has(key);
  }

  add(parts: readonly Uint8Array[], length: number, key: string, sliced: boolean): void {
    this.#queue.push({ parts, length, key, sliced, sent: 0, part: 0, offset: 0 });
    this.#bytes += length;
    this.#keys.set(key, (this.#keys.get(key) ?? 0) + 1);
  }

  /** The payload bytes the next frame carries if it is a slice (what it takes of the window); 0 for a whole frame or none. */
  get nextSliceBytes(): number {
    const head = this.#queue[0];
    return head?.sliced === true ? Math.min(SLICE_BYTES, head.length - head.sent) : 0;
  }

  /**
   * The next frame to write, as the chunks to write in order (header first, then views of the
   * payload: nothing is copied), and how many payload bytes of a slice it carries (0 for a
   * whole frame; for the window); null when nothing is held.
   */
  nextFrame(): { chunks: Uint8Array[]; sliceBytes: number } | null {
    const head = this.#queue[0];
    if (head === undefined) return null;
    if (!head.sliced) {
      this.#done(head);
      const header = Buffer.allocUnsafe(HEADER_BYTES);
      header.writeUInt32BE(head.length, 0);
      return { chunks: [header, ...head.parts], sliceBytes: 0 };
    }
    const first = head.sent === 0;
    const n = Math.min(SLICE_BYTES, head.length - head.sent);
    const last = head.sent + n === head.length;
    const header = Buffer.allocUnsafe(first ? 2 * HEADER_BYTES : HEADER_BYTES);
    header.writeUInt32BE((SLICE_BIT | (last ? LAST_SLICE_BIT : 0) | (first ? n + HEADER_BYTES : n)) >>> 0, 0);
    if (first) header.writeUInt32BE(head.length, HEADER_BYTES);
    const frame: Uint8Array[] = [header];
    let left = n;
    while (left > 0) {
      const part = head.parts[head.part]!;
      const take = Math.min(left, part.byteLength - head.offset);
      if (take > 0) frame.push(part.subarray(head.offset, head.offset + take));
      left -= take;
      head.offset += take;
      if (head.offset === part.byteLength) {
        head.part++;
        head.offset = 0;
      }
    }
    head.sent += n;
    this.#bytes -= n;
    if (last) this.#done(head, false);
    return { chunks: frame, sliceBytes: n };
  }

  /** Forgets everything held (the link closed). */
  clear(): void {
    this.#queue.length = 0;
    this.#keys.clear();
    this.#bytes = 0;
  }

  #done(head: Outgoing, uncounted = true): void {
    this.#queue.shift();
    if (uncounted) this.#bytes -= head.length;
    const left = this.#keys.get(head.key)! - 1;
    if (left === 0) this.#keys.delete(head.key);
    else this.#keys.set(head.key, left);
  }
}
