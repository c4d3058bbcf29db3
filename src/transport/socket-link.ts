import type { Socket } from 'node:net';
import { createCodec, type Codec } from '../codec/cbor.js';
import { DEFAULT_MAX_FRAME, FrameDecoder, frameHeader, HEADER_BYTES as FRAME_HEADER_BYTES } from '../codec/frames.js';
import { BadFrameError, SlowPeerError, UnreachableError } from '../errors.js';
import { Traffic, type Link } from './link.js';

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
 * made in one event-loop turn leave as one batch (cork, then uncork on the next tick), which
 * is what lifts throughput without delaying a lone message. A bad frame, a payload that is not
 * CBOR or a peer that stops reading closes this link only, with a typed reason.
 */
export class SocketLink implements Link {
  onMessage: (message: unknown) => void = () => {};
  /** Never called: a message that cannot be encoded makes `send` throw at once. */
  onRefused: (message: unknown, error: Error) => void = () => {};
  readonly closed: Promise<Error | undefined>;
  readonly traffic = new Traffic();
  readonly #codec: Codec = createCodec();
  readonly #decoder: FrameDecoder;
  readonly #maxWriteBuffer: number;
  readonly #maxFrame: number;
  #settle: (reason: Error | undefined) => void = () => {};
  #open = true;
  #corked = false;

  constructor(
    private readonly socket: Socket,
    readonly peer: string,
    options: SocketLinkOptions = {},
  ) {
    this.#maxWriteBuffer = options.maxWriteBuffer ?? 32 * 1024 * 1024;
    this.closed = new Promise((resolve) => (this.#settle = resolve));
    this.#maxFrame = options.maxFrame ?? DEFAULT_MAX_FRAME;
    this.#decoder = new FrameDecoder(
      (payload) => this.#receive(payload),
      (error) => this.close(error),
      Math.min(options.maxFrameUntrusted ?? this.#maxFrame, this.#maxFrame),
    );
    socket.setNoDelay?.(true);
    socket.on('data', (chunk: Buffer) => this.#decoder.push(chunk));
    socket.on('end', () => {
      this.#decoder.end();
      this.close();
    });
    socket.on('error', (error) => this.close(new UnreachableError(peer, error.message, { cause: error })));
    socket.on('close', () => this.close());
  }

  #receive(payload: Buffer): void {
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
    if (this.#open) this.onMessage(message);
  }

  get writeBuffer(): number {
    return this.socket.writableLength;
  }

  send(message: unknown): boolean {
    if (!this.#open) return false;
    const payload = this.#codec.encode(message);
    if (!this.#corked) {
      this.#corked = true;
      this.socket.cork();
      process.nextTick(this.#uncork);
    }
    this.socket.write(frameHeader(payload.length));
    this.socket.write(payload);
    const traffic = this.traffic;
    traffic.messagesOut++;
    traffic.bytesOut += payload.length + FRAME_HEADER_BYTES;
    if (this.socket.writableLength > this.#maxWriteBuffer) {
      this.close(new SlowPeerError(this.peer, this.#maxWriteBuffer));
      return false;
    }
    return true;
  }

  #uncork = (): void => {
    this.#corked = false;
    this.socket.uncork();
  };

  trusted(): void {
    this.#decoder.maxFrame = this.#maxFrame;
  }

  /** With a reason (a broken rule) the socket is dropped at once; a clean close sends what is queued first. */
  close(reason?: Error): void {
    if (!this.#open) return;
    this.#open = false;
    if (reason) this.socket.destroy();
    else this.socket.end(); // end() flushes corked writes
    this.#settle(reason);
  }
}
