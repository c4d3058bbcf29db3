import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { Address, type ActorId } from '../address.js';
import type { Clock } from '../clock.js';
import { HandshakeError } from '../errors.js';
import { isSlicesOffer, parseMessage, PROTOCOL_VERSION, type MessageOf } from '../messages.js';
import type { Link } from './link.js';

/** Who a node is: its address without the actor id. */
export interface NodeIdentity {
  readonly machineId: string;
  readonly processId: number;
  readonly threadId: number;
}

/** Which end of the link this side is: the one that connected, or the one that was connected to. */
export type Role = 'dial' | 'accept';

export const NONCE_BYTES = 32;

export interface HandshakeOptions {
  readonly role: Role;
  /** The robot's secret (robot-secret.ts): what both ends prove they hold. */
  readonly secret: Buffer;
  /** The whole handshake must be over by then. */
  readonly timeoutMs: number;
  readonly clock: Clock;
  /** How long a peer with a wrong proof waits before it is cut off (slows guessing). Default 200 ms. */
  readonly refuseDelayMs?: number;
  /** Takes over the link's messages the moment the handshake succeeds: none can slip by. */
  readonly then: (message: unknown) => void;
}

/**
 * The first exchange on every link between two nodes. Each end proves it holds the robot's
 * secret, over fresh nonces from both ends, so that a recorded handshake cannot be replayed and
 * the secret never crosses the wire:
 *
 *     both:     hello { version, nonce }
 *     dialler:  proof { machineId, processId, threadId, mac }      once it has the peer's hello
 *     acceptor: proof { ... }                                       once the dialler's proof checks out
 *
 * `mac` is HMAC-SHA256(secret, "qiact-node-proof/2" role identity peer-nonce own-nonce) (see
 * {@link proofMac}); the role and the identity inside it keep a proof from being reflected or
 * reused for another node. The acceptor says nothing but its nonce until the dialler has proven
 * itself: a peer without the secret learns no name and no address. A wrong version, a message
 * out of turn, a wrong proof (after `refuseDelayMs`) or silence past `timeoutMs` closes the link
 * with a HandshakeError, which is also what this rejects with. Resolves to the peer's identity,
 * proven.
 */
export function handshake(link: Link, self: NodeIdentity, options: HandshakeOptions): Promise<NodeIdentity> {
  const { role, secret, timeoutMs, clock } = options;
  const nonce = randomBytes(NONCE_BYTES);
  return new Promise((resolve, reject) => {
    let settled = false;
    let peerNonce: Uint8Array | null = null;
    /** What the peer's hello offered of sliced frames (the largest payload it accepts), if anything. */
    let peerSlices: number | undefined;
    let peerRecords = false;
    let refuseTimer: unknown = null;
    const fail = (error: HandshakeError): void => {
      if (settled) return;
      settled = true;
      clock.clearTimer(timer);
      if (refuseTimer !== null) clock.clearTimer(refuseTimer);
      link.close(error);
      reject(error);
    };
    const timer = clock.setTimer(() => fail(new HandshakeError(link.peer, 'timeout', `the handshake was not over within ${timeoutMs} ms`)), timeoutMs);
    void link.closed.then((reason) => fail(new HandshakeError(link.peer, 'closed', reason ? reason.message : 'the peer closed the link', reason ? { cause: reason } : undefined)));
    const sendProof = (peer: Uint8Array): void => {
      link.send({ kind: 'proof', ...identityOf(self), mac: proofMac(secret, role, self, peer, nonce) } satisfies MessageOf<'proof'>);
    };
    link.onMessage = (raw) => {
      if (settled || refuseTimer !== null) return;
      // The version first: a peer of another version may not even have our fields.
      const version = (raw as { kind?: unknown; version?: unknown } | null)?.kind === 'hello' ? (raw as { version?: unknown }).version : undefined;
      if (version !== undefined && version !== PROTOCOL_VERSION) {
        return fail(new HandshakeError(link.peer, 'version', `the peer speaks version ${String(version)}, this node ${PROTOCOL_VERSION}`));
      }
      let message;
      try {
        message = parseMessage(raw);
      } catch (error) {
        return fail(new HandshakeError(link.peer, peerNonce === null ? 'not-hello' : 'protocol', (error as Error).message));
      }
      if (peerNonce === null) {
        if (message.kind !== 'hello') return fail(new HandshakeError(link.peer, 'not-hello', `the first message was '${message.kind}'`));
        if (message.nonce.length !== NONCE_BYTES || timingSafeEqual(message.nonce, nonce)) {
          return fail(new HandshakeError(link.peer, 'protocol', `the nonce must be ${NONCE_BYTES} fresh bytes`));
        }
        peerNonce = message.nonce;
        const slices = (raw as { slices?: unknown }).slices;
        if (slices !== undefined && !isSlicesOffer(slices)) {
          return fail(new HandshakeError(link.peer, 'protocol', 'slices must be a whole number > 0'));
        }
        if (link.slicesOffer !== undefined) peerSlices = slices as number | undefined;
        const records = (raw as { records?: unknown }).records;
        if (records !== undefined && typeof records !== 'boolean') return fail(new HandshakeError(link.peer, 'protocol', 'records must be true or false'));
        peerRecords = link.recordsOffer === true && records === true;
        if (role === 'dial') sendProof(peerNonce);
        return;
      }
      if (message.kind !== 'proof') return fail(new HandshakeError(link.peer, 'protocol', `expected the peer's proof, got '${message.kind}'`));
      const peer = identityOf(message);
      try {
        new Address(peer.machineId, peer.processId, peer.threadId, 0 as ActorId);
      } catch (error) {
        return fail(new HandshakeError(link.peer, 'protocol', (error as Error).message));
      }
      const expected = proofMac(secret, role === 'dial' ? 'accept' : 'dial', peer, nonce, peerNonce);
      if (message.mac.length !== expected.length || !timingSafeEqual(message.mac, expected)) {
        // Nothing is said to a peer without the secret; it waits, then the link closes.
        refuseTimer = clock.setTimer(() => fail(new HandshakeError(link.peer, 'secret', `${keyOf(peer)} did not prove it holds this robot's secret`)), options.refuseDelayMs ?? 200);
        return;
      }
      // Before the acceptor's proof leaves: the dialler may send sliced frames right behind it.
      link.trusted?.(peerSlices, peerRecords);
      if (role === 'accept') sendProof(peerNonce);
      // Records only after our proof: the peer reads it before it has trusted us.
      if (peerRecords) link.sendRecords?.();
      settled = true;
      clock.clearTimer(timer);
      link.onMessage = options.then;
      resolve(peer);
    };
    const hello: MessageOf<'hello'> & { slices?: number; records?: boolean } = { kind: 'hello', version: PROTOCOL_VERSION, nonce };
    if (link.slicesOffer !== undefined) hello.slices = link.slicesOffer;
    if (link.recordsOffer === true) hello.records = true;
    link.send(hello);
  });
}

/**
 * What a node of `role` and `identity` proves with: an HMAC over both nonces, the peer's first
 * (the one it chose to check us with).
 */
export function proofMac(secret: Buffer, role: Role, identity: NodeIdentity, peerNonce: Uint8Array, ownNonce: Uint8Array): Buffer {
  return createHmac('sha256', secret).update(`qiact-node-proof/${PROTOCOL_VERSION}\0${role}\0${keyOf(identity)}\0`).update(peerNonce).update(ownNonce).digest();
}

function identityOf(m: NodeIdentity): NodeIdentity {
  return { machineId: m.machineId, processId: m.processId, threadId: m.threadId };
}

function keyOf(m: NodeIdentity): string {
  return `${m.machineId}/${m.processId}/${m.threadId}`;
}
