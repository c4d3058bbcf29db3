import type { Socket } from 'node:net';
import { createCodec, type Codec } from '../codec/cbor.js';
import { DEFAULT_MAX_FRAME, FrameDecoder, frameHeader, HEADER_BYTES as FRAME_HEADER_BYTES, windowUpdate } from '../codec/frames.js';
import { encodeParts } from '../codec/large-bytes.js';
import { RecordsEncoder } from '../codec/records.js';
import { BadFrameError, SlowPeerError, UnreachableError } from '../errors.js';
import { orderKeyOf } from '../messages.js';
import { Traffic, type Link } from './link.js';
import { Bursts } from './bursts.js';
import { OutgoingSlices, SLICE_BYTES, WINDOW_BYTES, WINDOW_UPDATE_EVERY } from './outgoing-slices.js';
import { receiveBuffers } from './receive-buffers.js';
import { readSharedReads } from './shared-reads.js';

/** Slices handed to the socket and not yet flushed to the kernel: one being written, one ready behind it. */
const SLICES_AHEAD = 2;

export interface SocketLinkOptions {
  /** Largest frame payload accepted from the peer. Default 16 MiB. */
  maxFrame?: number;
  /**
   * Largest frame accepted until the peer proved itself ({@link SocketLink.trusted}): a peer
   * nobody knows yet cannot make us buffer more than this. Default: `maxFrame` (no such phase).
   */
  maxFrameUntrusted?: number;
  /** Bytes allowed to wait unwritten before the peer counts as not reading. Default 32 MiB. */
  maxWriteBuffer?: number;
}

/**
 * A Link over a stream socket (Unix or TCP): CBOR messages in length-prefixed frames. Writes
 * made in one event-loop turn leave in bursts (bursts.ts: held back to the turn's end, or every
 * 16 frames), which is what lifts throughput without delaying a lone message. A bad frame, a
 * payload that is not CBOR or a peer that stops reading closes this link only, with a typed
 * reason.
 *
 * Large byte strings and typed arrays are written as views of the caller's memory (large-bytes.ts)
 * and decoded as views of the received frame. Once both ends offered sliced frames (the
 * handshake's `slices`), a payload over one slice goes out in slices, one socket-full at a time,
 * and small messages pass between them unless they must keep their order behind it (orderKeyOf):
 * a camera frame does not hold up a call to another service for its whole transfer.
 */
export class SocketLink implements Link {
  onMessage: (message: unknown, received?: Buffer) => void = () => {};
  /** Never called: a message that cannot be encoded makes `send` throw at once. */
  onRefused: (message: unknown, error: Error) => void = () => {};
  readonly closed: Promise<Error | undefined>;
  readonly traffic = new Traffic();
  /**
   * Encodes plain maps; decodes plain maps, and records once the peer proved itself and offered
   * them (the decoder then keeps the shapes it defines: no one else can make it hold any).
   */
  #codec: Codec = createCodec();
  /** Set once both ends offered records (and sliced frames): what messages sent whole are encoded with. */
  #records: RecordsEncoder | null = null;
  readonly #decoder: FrameDecoder;
  readonly #maxWriteBuffer: number;
  readonly #maxFrame: number;
  #settle: (reason: Error | undefined) => void = () => {};
  #open = true;
  readonly #bursts: Bursts;
  /** Set once both ends offered sliced frames: the largest payload the peer accepts. */
  #peerMaxFrame = 0;
  readonly #held = new OutgoingSlices();
  /** Slices written to the socket and not yet flushed (see #pump). */
  #slicesInSocket = 0;
  /** Slice bytes sent that the peer has not yet said it read (at most WINDOW_BYTES). */
  #unread = 0;
  /** Slice bytes of the peer's that we read and have not yet told it of. */
  #readUntold = 0;

  constructor(
    private readonly socket: Socket,
    readonly peer: string,
    options: SocketLinkOptions = {},
  ) {
    this.#maxWriteBuffer = options.maxWriteBuffer ?? 32 * 1024 * 1024;
    this.#bursts = new Bursts(socket);
    this.closed = new Promise((resolve) => (this.#settle = resolve));
    this.#maxFrame = options.maxFrame ?? DEFAULT_MAX_FRAME;
    this.#decoder = new FrameDecoder(
      (payload, assembled) => this.#receive(payload, assembled),
      (error) => this.close(error),
      Math.min(options.maxFrameUntrusted ?? this.#maxFrame, this.#maxFrame),
    );
    this.#decoder.allocate = receiveBuffers.take;
    this.#decoder.onWindow = (bytes) => {
      this.#unread = Math.max(0, this.#unread - bytes);
      this.#pump();
    };
    this.#decoder.onSliceRead = (bytes, last) => {
      this.#readUntold += bytes;
      if (this.#readUntold < WINDOW_UPDATE_EVERY && !last) return;
      this.#bursts.hold();
      this.socket.write(windowUpdate(this.#readUntold));
      this.#readUntold = 0;
    };
    socket.setNoDelay?.(true);
    socket.on('data', (chunk: Buffer) => this.#decoder.push(chunk));
    readSharedReads(socket, (chunk, transient) => this.#decoder.push(chunk, transient));
    socket.on('end', () => {
      this.#decoder.end();
      this.close();
    });
    socket.on('error', (error) => this.close(new UnreachableError(peer, error.message, { cause: error })));
    socket.on('close', () => this.close());
  }

  #receive(payload: Buffer, assembled: boolean): void {
    let message: unknown;
    try {
      message = this.#codec.decode(payload);
    } catch (error) {
      this.#decoder.fail(error as BadFrameError);
      return;
    }
    const traffic = this.traffic;
    traffic.messagesIn++;
    traffic.bytesIn += payload.length + FRAME_HEADER_BYTES;
    if (this.#open) this.onMessage(message, assembled ? payload : undefined);
  }

  get writeBuffer(): number {
    return this.socket.writableLength;
  }

  send(message: unknown, sender?: string, receiver?: string): boolean {
    if (!this.#open) return false;
    const sliced = this.#peerMaxFrame > 0;
    // (The order key is looked at only while something is held: no cost on the common path.)
    let key = sliced && !this.#held.empty ? orderKeyOf(message, sender, receiver) : undefined;
    const waits = key !== undefined && this.#held.mustWait(key);
    // Records only for what leaves now, whole: the peer must decode them in the order encoded.
    const records = waits ? null : this.#records;
    let payload = encodeParts(records?.encode ?? this.#codec.encode, message);
    if (records !== null && payload.length > SLICE_BYTES) {
      records.forget();
      payload = encodeParts(this.#codec.encode, message);
    }
    const length = payload.length;
    if (sliced && length > this.#peerMaxFrame) {
      records?.forget(); // not sent after all
      throw new BadFrameError('too-large', `a message of ${length} bytes is over the largest ${this.peer} accepts, ${this.#peerMaxFrame} bytes`, this.#peerMaxFrame);
    }
    const traffic = this.traffic;
    traffic.messagesOut++;
    traffic.bytesOut += length + FRAME_HEADER_BYTES;
    if (sliced && length > SLICE_BYTES) key ??= orderKeyOf(message, sender, receiver);
    if (key !== undefined && (length > SLICE_BYTES || waits)) {
      this.#held.add(Buffer.isBuffer(payload) ? [payload] : payload.parts, length, key, length > SLICE_BYTES);
      this.#pump();
    } else {
      this.#bursts.hold();
      this.socket.write(frameHeader(length));
      if (Buffer.isBuffer(payload)) this.socket.write(payload);
      else for (const part of payload.parts) if (part.byteLength > 0) this.socket.write(part);
      this.#bursts.written();
    }
    if (this.socket.writableLength + this.#held.bytesBehind > this.#maxWriteBuffer) {
      this.close(new SlowPeerError(this.peer, this.#maxWriteBuffer));
      return false;
    }
    return true;
  }

  /**
   * Hands held frames to the socket while the window has room and fewer than SLICES_AHEAD slices
   * wait in the socket's own buffer; each slice flushed to the kernel, and each window update,
   * pumps again. (Waiting for 'drain' instead left the pipe empty between two batches.)
   */
  #pump(): void {
    const held = this.#held;
    while (this.#open && !held.empty && this.#slicesInSocket < SLICES_AHEAD && this.#unread + held.nextSliceBytes <= WINDOW_BYTES) {
      this.#bursts.hold();
      const { chunks, sliceBytes } = held.nextFrame()!;
      const last = chunks.length - 1;
      for (let i = 0; i < last; i++) this.socket.write(chunks[i]!);
      if (sliceBytes === 0) {
        this.socket.write(chunks[last]!);
        continue;
      }
      this.#unread += sliceBytes;
      this.#slicesInSocket++;
      this.socket.write(chunks[last]!, this.#sliceFlushed);
    }
  }

  #sliceFlushed = (): void => {
    this.#slicesInSocket--;
    this.#pump();
  };

  /** What this end offers in the handshake: the largest payload it accepts, in slices or whole. */
  get slicesOffer(): number {
    return this.#maxFrame;
  }

  /** What this end offers in the handshake: it reads cbor-x's records (records.ts). */
  get recordsOffer(): boolean {
    return true;
  }

  trusted(peerSlices?: number, peerRecords?: boolean): void {
    this.#decoder.maxFrame = this.#maxFrame;
    if (peerSlices !== undefined && peerSlices > 0) {
      this.#decoder.sliced = true;
      this.#peerMaxFrame = peerSlices;
      if (peerRecords === true) this.#codec = createCodec({ records: true });
    }
  }

  /** Writes records from now on (the peer reads them: see trusted). */
  sendRecords(): void {
    if (this.#peerMaxFrame > 0) this.#records ??= new RecordsEncoder();
  }

  /** With a reason (a broken rule) the socket is dropped at once; a clean close sends what is queued first. */
  close(reason?: Error): void {
    if (!this.#open) return;
    this.#open = false;
    if (reason) this.#held.clear();
    // A clean close sends what is held too, in order, before the end.
    for (let frame = this.#held.nextFrame(); frame !== null; frame = this.#held.nextFrame()) for (const chunk of frame.chunks) this.socket.write(chunk);
    if (reason) this.socket.destroy();
    else this.socket.end(); // end() flushes corked writes
    this.#settle(reason);
  }
}
