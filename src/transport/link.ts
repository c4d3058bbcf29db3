/**
 * Messages and bytes through one link, each way. Bytes count the encoded frames (header
 * included); over a MessagePort, where messages go by structured clone, they stay 0.
 */
export class Traffic {
  messagesIn = 0;
  messagesOut = 0;
  bytesIn = 0;
  bytesOut = 0;
}

/**
 * One connection between two nodes, whatever carries it (MessagePort, Unix socket, TCP, TLS).
 * The router sees only this; each path is one adapter behind it.
 *
 * Guarantees: messages arrive in the order they were sent; `closed` settles exactly once, with
 * the reason (undefined for a clean close); after close nothing more is delivered or sent.
 * Not guaranteed: delivery of messages still in flight when the link closes (pending calls on
 * a closed link are failed by whoever tracks them).
 */
export interface Link {
  /** Who is at the other end, for errors and logs (e.g. `unix:/run/qiact.sock`). */
  readonly peer: string;
  /** What went through it (for metrics). */
  readonly traffic: Traffic;
  /** Bytes written but not yet taken by the kernel (0 where the path does not buffer bytes). */
  readonly writeBuffer: number;
  /**
   * Queues one message; false (and nothing sent) once the link is closed. A message this link
   * cannot carry (not cloneable, not encodable) is refused, never the link: either `send`
   * throws, or, where the check happens later in a batch, `onRefused` is told. `sender` and
   * `receiver` name the two actors whose order a message keeps when it does not name them (a
   * reply, a signal value); links that never reorder ignore them.
   */
  send(message: unknown, sender?: string, receiver?: string): boolean;
  /**
   * Set by the owner; called once per received message, in order. `received`: the buffer a
   * sliced payload was put together in, whose views the message holds (receive-buffers.ts).
   */
  onMessage: (message: unknown, received?: Buffer) => void;
  /**
   * Set by the owner; called with a message that was accepted by `send` but could not be carried:
   * later, or from inside the `send` that completes a burst (which may be that message's own), so
   * an owner records what it sends before sending it.
   */
  onRefused: (message: unknown, error: Error) => void;
  /** Settles once, when the link is closed, with why. */
  readonly closed: Promise<Error | undefined>;
  /**
   * The peer proved itself in the handshake: lift the limits kept on a peer not yet known (a
   * socket link takes frames of a few KiB until then). Links with no such limits leave it out.
   * `peerSlices`, when both ends offered sliced frames, is the largest payload the peer accepts;
   * `peerRecords`, that the peer offered records too: the link reads them from now on.
   */
  trusted?(peerSlices?: number, peerRecords?: boolean): void;
  /** Links that can send and take sliced frames: the largest payload this end accepts (the offer). */
  readonly slicesOffer?: number;
  /** Links that read cbor-x's record structures (records.ts): true, offered in the node handshake. */
  readonly recordsOffer?: boolean;
  /**
   * Both ends offered records and the handshake is over on this side (for the acceptor, its own
   * proof has left, as a plain map): write records from now on.
   */
  sendRecords?(): void;
  /** Closes the link (idempotent); `reason` is what `closed` reports. */
  close(reason?: Error): void;
}
