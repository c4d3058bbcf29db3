import type { MessagePort } from 'node:worker_threads';
import { UnreachableError } from '../errors.js';
import type { Link } from './link.js';

/**
 * A Link between two threads of one process over a MessagePort. Messages go by structured
 * clone, not CBOR: measured faster here, and posting cbor-x's output would copy its whole
 * buffer. When the other side closes its port, or its thread exits, `closed` settles with an
 * UnreachableError, so no one waits on a dead thread (comlink's flaw).
 */
export class PortLink implements Link {
  onMessage: (message: unknown) => void = () => {};
  readonly closed: Promise<Error | undefined>;
  #settle: (reason: Error | undefined) => void = () => {};
  #open = true;

  constructor(
    private readonly port: MessagePort,
    readonly peer: string,
  ) {
    this.closed = new Promise((resolve) => (this.#settle = resolve));
    port.on('message', (message: unknown) => {
      if (this.#open) this.onMessage(message);
    });
    port.on('close', () => this.#closedBy(new UnreachableError(peer, 'the other thread closed its port or exited')));
  }

  send(message: unknown): boolean {
    if (!this.#open) return false;
    try {
      this.port.postMessage(message);
      return true;
    } catch (error) {
      // Not cloneable (a function, a class instance with private state...): refuse this message only.
      throw new UnreachableError(this.peer, `message cannot be sent to another thread: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
  }

  close(reason?: Error): void {
    if (!this.#open) return;
    this.#closedBy(reason);
    this.port.close();
  }

  #closedBy(reason: Error | undefined): void {
    if (!this.#open) return;
    this.#open = false;
    this.#settle(reason);
  }
}
