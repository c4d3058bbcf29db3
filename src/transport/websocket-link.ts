import { createCodec, type Codec } from '../codec/cbor.js';
import { BadFrameError, SlowPeerError, UnreachableError } from '../errors.js';
import { Bursts, type Corkable } from './bursts.js';
import { Traffic, type Link } from './link.js';

/**
 * The WebSocket as the web platform defines it (WHATWG), which the `ws` package's sockets also
 * offer: so one link serves the gateway's side, Node clients and browsers alike.
 */
export interface WebSocketLike {
  binaryType: string;
  readonly bufferedAmount: number;
  /** 0 connecting, 1 open, 2 closing, 3 closed. */
  readonly readyState: number;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'message', listener: (event: { data: unknown }) => void): void;
  addEventListener(type: 'close', listener: (event: { code: number; reason: string }) => void): void;
  addEventListener(type: 'error', listener: (event: { message?: string; error?: unknown }) => void): void;
}

/** Close codes (RFC 6455): a clean close, no code given, and a message the endpoint cannot take. */
const NORMAL = 1000;
const NO_STATUS = 1005;
const UNSUPPORTED = 1003;
const OPEN = 1;

/**
 * A Link over a WebSocket: one CBOR message per binary WebSocket message, which frames it
 * already. A text message, or a binary one that is not CBOR, closes this link with a typed
 * reason (close code 1003); a message over the size limit is refused by the gateway's `ws`
 * server itself (1009) before it is buffered whole.
 */
export class WebSocketLink implements Link {
  onMessage: (message: unknown) => void = () => {};
  /** Never called: a message that cannot be encoded makes `send` throw at once. */
  onRefused: (message: unknown, error: Error) => void = () => {};
  readonly closed: Promise<Error | undefined>;
  readonly traffic = new Traffic();
  readonly #codec: Codec = createCodec();
  #settle: (reason: Error | undefined) => void = () => {};
  #open = true;

  /** Set where the socket under the WebSocket is at hand (the gateway's side). */
  readonly #bursts: Bursts | null;

  constructor(
    private readonly socket: WebSocketLike,
    readonly peer: string,
    private readonly maxWriteBuffer = 32 * 1024 * 1024,
    /**
     * The socket the WebSocket is carried on, where the caller has it: then the messages sent
     * in one turn leave in bursts (bursts.ts), each still its own WebSocket message. A browser
     * has no such socket to give.
     */
    stream?: Corkable,
  ) {
    this.#bursts = stream === undefined ? null : new Bursts(stream);
    this.closed = new Promise((resolve) => (this.#settle = resolve));
    socket.binaryType = 'arraybuffer';
    socket.addEventListener('message', (event) => this.#receive(event.data));
    socket.addEventListener('close', (event) => {
      const clean = event.code === NORMAL || event.code === NO_STATUS;
      this.#closedBy(clean ? undefined : new UnreachableError(peer, `the WebSocket closed (${event.code}${event.reason ? ` ${event.reason}` : ''})`));
    });
    socket.addEventListener('error', (event) => {
      const error = new UnreachableError(peer, event.message ?? 'WebSocket error', { cause: event.error });
      // Already closing (`ws` refused an oversized message and sends its close code): let the
      // close frame go out rather than cut the connection under it.
      if (socket.readyState === OPEN) this.close(error);
      else this.#closedBy(error);
    });
  }

  #receive(data: unknown): void {
    if (!this.#open) return;
    if (!(data instanceof ArrayBuffer)) return this.close(new BadFrameError('undecodable', `a text message from ${this.peer}: qiact messages are binary CBOR`));
    if (data.byteLength === 0) return this.close(new BadFrameError('empty', `an empty message from ${this.peer}`));
    let message: unknown;
    try {
      message = this.#codec.decode(new Uint8Array(data));
    } catch (error) {
      return this.close(new BadFrameError('undecodable', `from ${this.peer}: ${(error as Error).message}`));
    }
    this.traffic.messagesIn++;
    this.traffic.bytesIn += data.byteLength;
    this.onMessage(message);
  }

  get writeBuffer(): number {
    return this.socket.bufferedAmount;
  }

  send(message: unknown): boolean {
    if (!this.#open) return false;
    const payload = this.#codec.encode(message);
    const bursts = this.#bursts;
    bursts?.hold();
    this.socket.send(payload);
    bursts?.written();
    this.traffic.messagesOut++;
    this.traffic.bytesOut += payload.length;
    if (this.socket.bufferedAmount > this.maxWriteBuffer) {
      this.close(new SlowPeerError(this.peer, this.maxWriteBuffer));
      return false;
    }
    return true;
  }

  /**
   * Closes the link. A message it cannot take is answered with close code 1003; a peer that broke
   * another rule (too slow) is dropped at once where the socket allows (`ws`'s terminate); a clean
   * close says goodbye first.
   */
  close(reason?: Error): void {
    if (!this.#open) return;
    const terminate = (this.socket as { terminate?: () => void }).terminate;
    if (reason instanceof BadFrameError) this.socket.close(UNSUPPORTED, reason.reason);
    else if (reason !== undefined && terminate !== undefined) terminate.call(this.socket);
    else this.socket.close(NORMAL);
    this.#closedBy(reason);
  }

  #closedBy(reason: Error | undefined): void {
    if (!this.#open) return;
    this.#open = false;
    this.#settle(reason);
  }
}
