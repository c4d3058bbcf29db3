/** The services the bench calls; a module of their own so that workers and processes can load them. */
import { Service, Type, type ServiceSchemas } from '../dist/src/index.js';
import { channelEcho, listenRawEcho, listenTlsEcho } from './raw-echo.js';

export class Echo extends Service {
  // Declared, so that a client outside the robot may call it through a door.
  static override schemas = { methods: { echo: { params: [Type.Number()] }, bounce: { params: [Type.Unknown()] } } } satisfies ServiceSchemas;
  echo(x: number): number {
    return x;
  }
  /** Sends any payload back (the payload bench: a nested message, a laser scan, a camera frame). */
  bounce(payload: unknown): unknown {
    return payload;
  }
  /** Where it runs (the soak bench kills that process). */
  pid(): number {
    return process.pid;
  }
  /** Crashes it (the soak bench's injected fault; its supervisor restarts it). */
  crash(): never {
    throw new Error('crash asked for by the soak bench');
  }
  /** Starts the raw floor's echo in this service's thread: see raw-echo.ts. */
  channelEcho(name: string): void {
    channelEcho(name);
  }
  /** Starts the raw floor's echo in this service's process: see raw-echo.ts. */
  rawEcho(kind: 'unix' | 'tcp'): Promise<string | number> {
    return listenRawEcho(kind);
  }
  /** Starts a bare TLS echo (raw-echo.ts) in this service's process; resolves to its port. */
  tlsEcho(cert: string, key: string): Promise<number> {
    return listenTlsEcho(cert, key);
  }
}

export class Sink extends Service {
  count = 0;
  hit(): void {
    this.count++;
  }
  total(): number {
    return this.count;
  }
  /** Takes a payload and answers its size only (the head-of-line bench's large transfers). */
  swallow(bytes: Uint8Array): number {
    return bytes.byteLength;
  }
}

/** A Sink whose `swallow` borrows its bytes: each large payload is received into the memory of the one before. */
export class BorrowingSink extends Sink {
  static override borrowing = ['swallow'];
}

export const MODULE = import.meta.url;
