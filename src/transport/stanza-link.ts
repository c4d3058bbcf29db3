import { createCodec, type Codec } from '../codec/cbor.js';
import { BadFrameError, BadMessageError } from '../errors.js';
import { Traffic, type Link } from './link.js';

/** The XML namespace of qiact payloads in XMPP stanzas. */
export const QIACT_NS = 'urn:qiact:1';

/**
 * A Link carried by XMPP message stanzas between two full JIDs: each message is CBOR, base64 in
 * a `<q xmlns='urn:qiact:1'>` element (XML cannot hold raw bytes). The XMPP client itself is the
 * owner's: it passes payloads in with `receive` and sends them with `sendPayload`. Stanzas
 * between two JIDs through one server arrive in order, as a Link requires.
 */
export class StanzaLink implements Link {
  onMessage: (message: unknown) => void = () => {};
  onRefused: (message: unknown, error: Error) => void = () => {};
  readonly closed: Promise<Error | undefined>;
  readonly traffic = new Traffic();
  readonly writeBuffer = 0;
  readonly #codec: Codec = createCodec();
  #settle: (reason: Error | undefined) => void = () => {};
  #open = true;

  constructor(
    readonly peer: string,
    private readonly sendPayload: (base64: string) => void,
    /** Largest message, in bytes before base64, either way. */
    private readonly maxPayload: number,
  ) {
    this.closed = new Promise((resolve) => (this.#settle = resolve));
  }

  get open(): boolean {
    return this.#open;
  }

  send(message: unknown): boolean {
    if (!this.#open) return false;
    const bytes = this.#codec.encode(message);
    if (bytes.length > this.maxPayload) throw new BadMessageError(String((message as { kind?: unknown }).kind), 'payload', `is ${bytes.length} bytes; at most ${this.maxPayload} go in one stanza`);
    this.sendPayload(Buffer.from(bytes).toString('base64'));
    this.traffic.messagesOut++;
    this.traffic.bytesOut += bytes.length;
    return true;
  }

  /**
   * One payload from the peer. A bad one (too large, not base64 CBOR) is refused with the typed
   * reason, returned for the owner to report; the link goes on.
   */
  receive(base64: string): BadFrameError | undefined {
    if (!this.#open) return undefined;
    if (base64.length > Math.ceil(this.maxPayload / 3) * 4 + 4) return new BadFrameError('too-large', `a payload of ${base64.length} base64 characters from ${this.peer}`, this.maxPayload);
    let message: unknown;
    try {
      const bytes = Buffer.from(base64, 'base64');
      if (bytes.length === 0) return new BadFrameError('empty', `an empty payload from ${this.peer}`);
      message = this.#codec.decode(bytes);
      this.traffic.messagesIn++;
      this.traffic.bytesIn += bytes.length;
    } catch (error) {
      return new BadFrameError('undecodable', `from ${this.peer}: ${(error as Error).message}`);
    }
    this.onMessage(message);
    return undefined;
  }

  close(reason?: Error): void {
    if (!this.#open) return;
    this.#open = false;
    this.#settle(reason);
  }
}
