import { receiveBuffers } from './transport/receive-buffers.js';

/**
 * `release(bytes)`: the caller is done with bytes (or a typed array) that a call returned from
 * another node, so their memory receives a later payload instead of fresh memory being made for
 * it. For a caller that pulls camera frames in a loop, the way a service's `borrowing` methods
 * give back what they are sent:
 *
 *     const frame = await camera.frame();   // a Uint8Array from a service in another process
 *     detect(frame);
 *     release(frame);                       // the next frame of about that size is received here
 *
 * Only results sent in slices (over 256 KiB) lie in such memory: those a node's call got from a
 * service of another node (over unix, tcp or tls), and those a Node client's call got through the
 * Gateway's TLS door (not its WebSocket door, XMPP or a browser). `release` returns whether
 * it took the memory back: false for anything else and for memory given back already, so it is
 * safe to call on any view. After it, nothing may read those bytes, nor any other bytes or typed
 * array of the same result (they share the memory), nor a message they were sent on in (its
 * write may come later): the next payload writes there.
 */
export function release(view: ArrayBufferView): boolean {
  return receiveBuffers.release(view);
}
