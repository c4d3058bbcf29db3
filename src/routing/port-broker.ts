import { isMainThread, MessageChannel, threadId, workerData, type MessagePort } from 'node:worker_threads';

/** What travels on broker ports: introductions only, never a node's messages. */
type BrokerMessage =
  | { op: 'hello'; threadId: number }
  | { op: 'adopt'; port: MessagePort }
  | { op: 'connect'; from: number; to: number; node: string; port: MessagePort };

/** How long an introduction waits for a thread that has not said hello yet. */
const WAIT_FOR_THREAD_MS = 10_000;

/**
 * Introduces two threads of this process to each other with a fresh MessageChannel, so that
 * their nodes then talk directly, never relayed through a third thread. The main thread is the
 * hub: every thread qiact starts gets a broker port to it. To reach thread B, thread A makes a
 * channel, keeps one end and sends the other to the hub, which hands it to B. Only that one
 * introduction passes through the hub.
 *
 * One per thread (module state): a thread has at most one node.
 */
export class PortBroker {
  /** Hub (main thread): the broker port of each thread, by threadId. */
  readonly #threads = new Map<number, MessagePort>();
  /** Hub: introductions waiting for their thread's hello (it may arrive after the first call). */
  readonly #waiting = new Map<number, BrokerMessage[]>();
  /** Worker: its port to the hub; null in a thread qiact did not start. */
  readonly #hub: MessagePort | null = null;
  /** The nodes of this thread (usually one; tests run several) take the ports of threads that connect to them. */
  readonly #nodes = new Map<string, (port: MessagePort, from: number) => void>();

  constructor() {
    if (isMainThread) return;
    const hub = (workerData as { qiactBroker?: MessagePort } | null)?.qiactBroker;
    if (hub === undefined) return;
    this.#hub = hub;
    hub.on('message', (m: BrokerMessage) => this.#arrived(m));
    hub.unref();
    hub.postMessage({ op: 'hello', threadId } satisfies BrokerMessage);
  }

  /** False in a worker that qiact did not start: its node reaches other threads by socket. */
  get available(): boolean {
    return isMainThread || this.#hub !== null;
  }

  /** A broker port for a worker about to be started: pass it as `workerData.qiactBroker`, transferred. */
  portForNewWorker(): MessagePort {
    const { port1, port2 } = new MessageChannel();
    if (this.#hub === null) this.#adopt(port1);
    else this.#hub.postMessage({ op: 'adopt', port: port1 } satisfies BrokerMessage, [port1]);
    return port2;
  }

  /** Node `key` of this thread takes the ports other threads open to it. */
  serve(key: string, onPort: (port: MessagePort, from: number) => void): void {
    this.#nodes.set(key, onPort);
  }

  unserve(key: string): void {
    this.#nodes.delete(key);
  }

  /** One end of a new channel to node `node` in thread `to`; the other end is on its way there. */
  connect(to: number, node: string): MessagePort {
    const { port1, port2 } = new MessageChannel();
    const m: BrokerMessage = { op: 'connect', from: threadId, to, node, port: port2 };
    if (this.#hub === null) this.#route(m);
    else this.#hub.postMessage(m, [port2]);
    return port1;
  }

  // ---- hub side ----

  #adopt(port: MessagePort): void {
    port.on('message', (m: BrokerMessage) => this.#atHub(port, m));
    port.unref();
  }

  #atHub(port: MessagePort, m: BrokerMessage): void {
    if (m.op === 'hello') {
      this.#threads.set(m.threadId, port);
      port.once('close', () => {
        if (this.#threads.get(m.threadId) === port) this.#threads.delete(m.threadId);
      });
      const waiting = this.#waiting.get(m.threadId);
      this.#waiting.delete(m.threadId);
      for (const w of waiting ?? []) this.#route(w);
    } else if (m.op === 'adopt') this.#adopt(m.port);
    else this.#route(m);
  }

  #route(m: BrokerMessage): void {
    if (m.op !== 'connect') return;
    if (m.to === threadId) return this.#arrived(m);
    const target = this.#threads.get(m.to);
    if (target !== undefined) return target.postMessage(m, [m.port]);
    // Not known yet: its hello may still be on the way. A thread that never says hello gets its
    // caller's port closed, which fails that handshake with a clear reason.
    let waiting = this.#waiting.get(m.to);
    if (waiting === undefined) {
      this.#waiting.set(m.to, (waiting = []));
      setTimeout(() => {
        const gave = this.#waiting.get(m.to);
        this.#waiting.delete(m.to);
        for (const w of gave ?? []) if (w.op === 'connect') w.port.close();
      }, WAIT_FOR_THREAD_MS).unref();
    }
    waiting.push(m);
  }

  #arrived(m: BrokerMessage): void {
    if (m.op !== 'connect') return;
    const onPort = this.#nodes.get(m.node);
    // No such node (it stopped): closing the port fails the caller's handshake at once.
    if (onPort === undefined) m.port.close();
    else onPort(m.port, m.from);
  }
}

let broker: PortBroker | undefined;

/** This thread's broker. */
export function portBroker(): PortBroker {
  return (broker ??= new PortBroker());
}
