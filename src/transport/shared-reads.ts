import { Socket, type Server } from 'node:net';

/**
 * Reads of the sockets a thread dials or accepts, into one buffer of the thread.
 *
 * Normally Node reads a socket into fresh memory, 64 KiB a read: a 64 MiB camera frame is 1,024
 * new buffers, and V8 starts a full collection for every 64 MB of new memory outside its heap.
 * With 64 MiB payloads flowing on a tcp link, that paused the receiver every few frames and set
 * the p99 of small calls on the link at 9-12 ms (bench:payloads, head-of-line rows). Read into one
 * buffer instead (Node's `onread`), each read is copied at once where it belongs (the payload being
 * put together, or the frame it starts) and no memory is made per read.
 *
 * Node offers `onread` only to a socket made with it: one a node dials (unix, tcp, or tls, whose
 * decrypted bytes TLS writes there), an outside client's TLS socket to the Gateway, and a unix or
 * tcp connection a node accepts, whose socket is made anew around the accepted one's handle
 * (`adoptAccepted`). A connection to a `tls:` listener reads as before (TLS makes that socket),
 * and so does TLS over a proxy's tunnel. One buffer serves every such socket of the thread, since
 * each read is handed on and copied before the next read of any socket runs.
 */
const READ_BYTES = 1024 * 1024;

let buffer: Buffer | null = null;
/** What reads each socket's bytes; until it is set, its reads wait here as copies. */
const readers = new WeakMap<Socket, (chunk: Buffer) => void>();
const early = new WeakMap<Socket, Buffer[]>();

/**
 * A socket made by `create` with the options given to it (`{ onread }`, which `net.connect`
 * passes on to the socket), whose reads go to the function `readSharedReads` sets.
 */
export function withSharedReads<S extends Socket>(create: (options: { onread: { buffer: Buffer; callback: (bytes: number) => boolean } }) => S): S {
  buffer ??= Buffer.allocUnsafeSlow(READ_BYTES);
  const shared = buffer;
  const socket = create({
    onread: {
      buffer: shared,
      callback: (bytes) => {
        const chunk = shared.subarray(0, bytes);
        const read = readers.get(socket);
        if (read !== undefined) read(chunk);
        else early.get(socket)!.push(Buffer.from(chunk));
        return true; // go on reading (false would pause the socket)
      },
    },
  });
  early.set(socket, []);
  return socket;
}

/**
 * Sets what reads `socket` when it was made by `withSharedReads`: a function called with each
 * read's bytes, valid only until it returns. (Its 'data' events still carry whatever Node does not
 * read that way, e.g. a TLS socket over a proxy's tunnel, which Node reads as usual.)
 */
export function readSharedReads(socket: Socket, read: (chunk: Buffer, transient: boolean) => void): void {
  const waiting = early.get(socket);
  if (waiting === undefined) return;
  early.delete(socket);
  for (const chunk of waiting) read(chunk, false);
  readers.set(socket, (chunk) => read(chunk, true));
}

/** The parts of an accepted socket that Node does not document: its handle and its server's count. */
interface AcceptedInternals {
  _handle: unknown;
  _server: Server | null;
}

/**
 * A socket with shared reads in place of `accepted`, a connection a server with `pauseOnConnect`
 * accepted (so nothing of it was read yet). Node's `onread` is given only when a socket is made,
 * so a new one is made around the accepted one's handle, and takes its place in the server's
 * count of connections (the accepted object is left without a handle: it holds nothing and is
 * never closed). Both rely on fields Node does not document (`_handle`, `_server`); where they are
 * missing, the accepted socket itself is resumed and read as Node reads it.
 */
export function adoptAccepted(accepted: Socket): Socket {
  const internals = accepted as unknown as AcceptedInternals;
  const handle = internals._handle;
  const server = internals._server;
  if (handle === null || typeof handle !== 'object' || server === null || typeof server !== 'object') {
    accepted.resume();
    return accepted;
  }
  internals._handle = null;
  internals._server = null;
  const socket = withSharedReads((reads) => new Socket({ handle, readable: true, writable: true, ...reads } as ConstructorParameters<typeof Socket>[0]));
  // Counted as the server's connection: its close lets `server.close()` finish.
  (socket as unknown as AcceptedInternals)._server = server;
  return socket;
}
