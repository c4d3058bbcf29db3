import type { Clock } from '../clock.js';
import { HandshakeError } from '../errors.js';
import { parseMessage, PROTOCOL_VERSION, type MessageOf } from '../messages.js';
import type { Link } from './link.js';

export type Hello = MessageOf<'hello'>;

/**
 * The first exchange on every new link: each side sends `hello` (protocol version and node
 * identity) and expects one back as the peer's first message. A peer with another version, one
 * whose first message is anything else, or one that says nothing within `timeoutMs` is refused:
 * the link is closed with a HandshakeError, which is also what this rejects with.
 */
export function handshake(
  link: Link,
  self: Omit<Hello, 'kind' | 'version'>,
  options: {
    timeoutMs: number;
    clock: Clock;
    /** Takes over the link's messages the moment the handshake succeeds: none can slip by. */
    then: (message: unknown) => void;
  },
): Promise<Hello> {
  const { timeoutMs, clock } = options;
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (error: HandshakeError): void => {
      if (settled) return;
      settled = true;
      clock.clearTimer(timer);
      link.close(error);
      reject(error);
    };
    const timer = clock.setTimer(() => fail(new HandshakeError(link.peer, 'timeout', `no hello within ${timeoutMs} ms`)), timeoutMs);
    void link.closed.then((reason) => fail(new HandshakeError(link.peer, 'closed', reason ? reason.message : 'the peer closed the link', reason ? { cause: reason } : undefined)));
    link.onMessage = (message) => {
      let hello: Hello;
      try {
        const parsed = parseMessage(message);
        if (parsed.kind !== 'hello') return fail(new HandshakeError(link.peer, 'not-hello', `the first message was '${parsed.kind}'`));
        hello = parsed;
      } catch (error) {
        return fail(new HandshakeError(link.peer, 'not-hello', (error as Error).message));
      }
      if (hello.version !== PROTOCOL_VERSION) {
        return fail(new HandshakeError(link.peer, 'version', `the peer speaks version ${hello.version}, this node ${PROTOCOL_VERSION}`));
      }
      settled = true;
      clock.clearTimer(timer);
      link.onMessage = options.then;
      resolve(hello);
    };
    link.send({ kind: 'hello', version: PROTOCOL_VERSION, ...self } satisfies Hello);
  });
}
