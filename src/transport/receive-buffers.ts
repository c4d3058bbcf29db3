/**
 * The memory that large payloads are received into on socket links (unix, tcp, tls, the
 * Gateway's TLS door), and how a method that borrows its arguments gives it back (only what came
 * from another node is lent: see routing/peer.ts).
 *
 * A payload sent in slices (over 256 KiB) is put together in one buffer, and the bytes and typed
 * arrays decoded from it are views of that buffer. Normally the buffer then belongs to whoever
 * holds those views, as any JavaScript memory, and the next payload gets a new one: 64 MiB of
 * fresh memory per camera frame, whose pages fault in as they are written and whose release waits
 * for a full collection (V8 starts one for every 64 MB of new outside memory; in a trace on this
 * machine kind each paused the receiving process for 1.4-10 ms). A method listed in its class's
 * `borrowing` reads its arguments only until its call is over, so its buffer is kept here then,
 * and the next payload of that size is received into it; so is a call's result from another node
 * (or through the Gateway's TLS door) once its caller gives it back with `release()` (release.ts).
 * What is kept is let go after KEEP_IDLE_MS without large payloads, and a node's metrics show it
 * (memory.receiveBuffers).
 *
 * One set per thread (a module instance per thread). Nothing here is shared with a peer: a
 * buffer taken is written whole by the slices before anything reads it.
 */

/** The most bytes kept for later payloads; a buffer given back beyond it is left to the collector. */
export const MAX_KEPT_BYTES = 128 * 1024 * 1024;
/**
 * Kept buffers are let go when no large payload has been received into one or given back for
 * this long: a stream of frames keeps its memory, and after it the memory returns.
 */
export const KEEP_IDLE_MS = 5000;

/**
 * The size of buffer a payload of `length` bytes is received into: rounded up to the next eighth
 * of its power of two (at most 12.5 % over), so that payloads of about one size share buffers.
 */
export function sizeClassOf(length: number): number {
  const step = 2 ** Math.max(12, Math.floor(Math.log2(length)) - 3);
  return Math.ceil(length / step) * step;
}

class ReceiveBuffers {
  /** Buffers given back, by size; none is also lent. */
  readonly #kept = new Map<number, ArrayBuffer[]>();
  #keptBytes = 0;
  /** The buffer each borrowed argument list is a view of, until its call is over. */
  readonly #lent = new WeakMap<readonly unknown[], ArrayBuffer>();
  /** Buffers that call results were received into, until `release` gives one back. */
  readonly #releasable = new WeakSet<ArrayBuffer>();
  /** When a kept buffer was last taken or given back (performance.now()). */
  #lastUse = 0;
  /** Armed while buffers are kept (unref'd: it keeps no program alive). */
  #sweep: NodeJS.Timeout | null = null;

  /** Bytes kept now for later payloads. */
  get keptBytes(): number {
    return this.#keptBytes;
  }

  /**
   * `length` bytes to receive a payload into (not initialised: the slices write each one), in a
   * buffer given back or a new one. Its bytes past `length` are zeroed: a service that looks at
   * `bytes.buffer` beyond its view finds no earlier payload there.
   */
  readonly take = (length: number): Buffer => {
    const size = sizeClassOf(length);
    let buffer = this.#kept.get(size)?.pop();
    if (buffer === undefined) buffer = Buffer.allocUnsafeSlow(size).buffer as ArrayBuffer;
    else {
      this.#keptBytes -= size;
      this.#lastUse = performance.now();
    }
    if (length < size) new Uint8Array(buffer, length).fill(0);
    return Buffer.from(buffer, 0, length);
  };

  /** `args` were decoded from `received` (a buffer from `take`): lent if their method borrows. */
  lend(args: readonly unknown[], received: Buffer): void {
    this.#lent.set(args, received.buffer as ArrayBuffer);
  }

  /** The call that had `args` is over: if they were lent, their buffer takes a later payload. */
  giveBack(args: readonly unknown[]): void {
    const buffer = this.#lent.get(args);
    if (buffer === undefined) return;
    this.#lent.delete(args);
    this.#keep(buffer);
  }

  /** A call's result was decoded from `received` (a buffer from `take`): `release` may give it back. */
  offer(received: Buffer): void {
    this.#releasable.add(received.buffer as ArrayBuffer);
  }

  /** Gives back the buffer `view` lies in, if it was offered and not given back since; whether it was. */
  release(view: ArrayBufferView): boolean {
    const buffer = view.buffer as ArrayBuffer;
    if (!this.#releasable.delete(buffer)) return false;
    this.#keep(buffer);
    return true;
  }

  /** `buffer` takes a later payload of its size (unless MAX_KEPT_BYTES are kept already). */
  #keep(buffer: ArrayBuffer): void {
    const size = buffer.byteLength;
    if (this.#keptBytes + size > MAX_KEPT_BYTES) return;
    let list = this.#kept.get(size);
    if (list === undefined) this.#kept.set(size, (list = []));
    list.push(buffer);
    this.#keptBytes += size;
    this.#lastUse = performance.now();
    if (this.#sweep === null) this.#sweep = setTimeout(this.#letGo, KEEP_IDLE_MS).unref();
  }

  /** Lets every kept buffer go if none was used for KEEP_IDLE_MS; else looks again when that is up. */
  readonly #letGo = (): void => {
    this.#sweep = null;
    if (this.#keptBytes === 0) return;
    const idle = performance.now() - this.#lastUse;
    if (idle < KEEP_IDLE_MS) {
      this.#sweep = setTimeout(this.#letGo, KEEP_IDLE_MS - idle).unref();
      return;
    }
    this.#kept.clear();
    this.#keptBytes = 0;
  };
}

export const receiveBuffers = new ReceiveBuffers();
