import { fork, type ChildProcess } from 'node:child_process';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Actor, ExitReason } from '../actor.js';
import { Address } from '../address.js';
import { IGNORE, type Behaviour } from '../behaviour.js';
import { fromWire } from '../codec/wire-error.js';
import { NoSuchMethodError } from '../errors.js';
import { exitReasonOf } from '../routing/peer.js';
import { portBroker } from '../routing/port-broker.js';
import type { Child } from '../supervision/child-spec.js';
import type { ChildConfig, ToChild, ToParent } from './control.js';
import type { NodeTls } from '../transport/node-tls.js';

/** What a placed child needs from the node that starts it. */
export interface PlacementHost {
  readonly machineId: string;
  readonly secret: Buffer;
  readonly tls: NodeTls | undefined;
  readonly callTimeout: number;
  readonly maxMessageBytes: number;
  /** V8's heap growing the node set (heapGrowingPercent): its service processes start with it. */
  readonly heapGrowingPercent: number | undefined;
  /** Where the child node finds the directory. */
  directoryWhereabouts(): { address: string; endpoints: readonly string[] };
  /** The endpoints the child should listen on besides its Unix socket (TCP hosts with port 0). */
  childListen(): string[];
  warn(message: string, error?: unknown): void;
  /**
   * The child's node (`machineId/processId/threadId`) runs in this worker or process, reached at
   * `endpoints` (an unnamed child is in no directory entry); `exited` settles with why it ended,
   * for monitors whose link to it closed (the real cause, not `noconnection`).
   */
  childNode(node: string, endpoints: readonly string[], exited: Promise<ExitReason>): void;
  /** Calls the actor at `address` (a supervisor placed in the child, for its tree). */
  callAddress(address: Address, method: string, args: unknown[], timeoutMs: number): Promise<unknown>;
}

/** The exit of a worker or child process that did not say why: killed, crashed, or exited early. */
export class ChildExitError extends Error {
  override readonly name = 'ChildExitError';
  constructor(
    readonly where: string,
    readonly code: number | null,
    readonly signal: string | null,
    /** The uncaught error that ended a worker thread, if that is what happened. */
    uncaught?: unknown,
  ) {
    super(
      `${where} exited ${signal ? `on signal ${signal}` : `with code ${code}`}` + (uncaught instanceof Error ? ` after an uncaught ${uncaught.name}: ${uncaught.message}` : ''),
      uncaught === undefined ? undefined : { cause: uncaught },
    );
  }
}

/** The bootstrap module, next to this one (.ts when run from source, .js when built). */
const CHILD_MAIN = new URL(`./child-main${extname(fileURLToPath(import.meta.url))}`, import.meta.url);

/**
 * Where TypeScript is loaded (qiact run from its sources, as the tests do, or a service module
 * in .ts, as an app run with tsx has), a worker needs the TS loader too, and tsx registers
 * itself in the main thread only on Node 20: the worker's first act is to register it. Built
 * JavaScript needs none of this.
 */
function workerEntry(serviceModule: string): URL | string {
  const typeScript = /\.[cm]?ts$/;
  if (!typeScript.test(CHILD_MAIN.pathname) && !typeScript.test(serviceModule.replace(/[?#].*$/, ''))) return CHILD_MAIN;
  return `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(CHILD_MAIN.href)}); });`;
}

/** Either carrier of a child node, behind one small surface. */
interface Carrier {
  readonly label: string;
  send(m: ToChild): void;
  kill(): void;
}

/**
 * The supervisor's side of a child that lives in a new worker thread or child process. To the
 * supervisor it is a child like any other: starting it starts the thread or process and waits
 * for its service to be registered and running there; the thread's or process's exit (a crash,
 * `kill -9`, a clean stop) is this actor's exit, with that reason, so restart policies,
 * intensity and escalation apply unchanged. Calls to the service do not pass through here: the
 * service is registered under its own address, and callers reach it through the router.
 */
export class PlacedChild implements Behaviour {
  #self: Actor | null = null;
  #carrier: Carrier | null = null;
  #address: string | null = null;
  #exited: Promise<void> | null = null;
  #stopping = false;
  /** Why the worker or process ended, once it has. */
  #exited$: (reason: ExitReason) => void = () => {};
  readonly #exitReason = new Promise<ExitReason>((resolve) => (this.#exited$ = resolve));

  constructor(
    readonly child: Child,
    private readonly host: PlacementHost,
  ) {}

  /** The address of the service in the worker or process, once started. */
  get address(): string | null {
    return this.#address;
  }

  start(self: Actor): Promise<unknown> {
    this.#self = self;
    const config: ChildConfig = {
      module: this.child.module!,
      export: this.child.export!,
      id: this.child.id,
      name: this.child.name,
      mailbox: this.child.mailbox,
      machineId: this.host.machineId,
      secret: this.host.secret.toString('utf8'),
      tls: this.host.tls,
      callTimeout: this.host.callTimeout,
      maxMessageBytes: this.host.maxMessageBytes,
      directory: this.host.directoryWhereabouts(),
      listen: this.host.childListen(),
    };
    return new Promise((resolve, reject) => {
      let started = false;
      const onMessage = (m: ToParent): void => {
        if (m.kind === 'started') {
          started = true;
          this.#address = m.address;
          this.host.childNode(m.address.slice(0, m.address.lastIndexOf('/')), m.endpoints, this.#exitReason);
          resolve(undefined);
        } else if (m.kind === 'ignored') {
          started = true;
          resolve(IGNORE);
        } else if (m.kind === 'failed') {
          started = true;
          reject(fromWire(m.error, { service: this.child.name ?? this.child.id, method: 'start' }));
        } else if (m.kind === 'exited') {
          this.#gone(exitReasonOf(m.reason));
        } else if (m.kind === 'warning') {
          this.host.warn(`${this.child.name ?? this.child.id} (${this.#carrier?.label ?? this.child.in}): ${m.message}`);
        }
      };
      const onExit = (code: number | null, signal: string | null, uncaught?: unknown): void => {
        const error = new ChildExitError(this.#carrier?.label ?? this.child.in, code, signal, uncaught);
        // A clean exit (code 0) says nothing monitors need: they keep `noconnection`.
        this.#exited$(code === 0 && signal === null && uncaught === undefined ? 'noconnection' : error);
        if (!started) {
          started = true;
          reject(error);
        } else this.#gone(error);
      };
      this.#exited = new Promise((exited) => {
        this.#carrier = this.child.in === 'worker' ? startWorker(config, onMessage, onExit, exited) : startProcess(config, this.host.heapGrowingPercent, onMessage, onExit, exited);
      });
    });
  }

  /** The thread or process went away while running: this actor exits with the same reason. */
  #gone(reason: ExitReason): void {
    const self = this.#self;
    if (self === null || this.#stopping || !self.alive) return;
    if (reason === 'normal' || reason === 'shutdown') void self.stop('normal');
    else self.crash(reason instanceof Error ? reason : new Error(String(reason)));
  }

  handle(method: string, args: unknown[]): unknown {
    if (method === '@address') return this.#address;
    // The supervisor it stands in for answers for its own tree (node.tree() walks through here).
    if (method === '@tree' && this.child.type === 'supervisor' && this.#address !== null) {
      return this.host.callAddress(Address.parse(this.#address), '@tree', args, this.host.callTimeout);
    }
    throw new NoSuchMethodError(this.#self!.target(method), this.child.type === 'supervisor' ? ['@address', '@tree'] : ['@address']);
  }

  /** A clean stop: the child node stops its service, then exits. The supervisor's shutdown timeout bounds the wait. */
  async terminate(): Promise<void> {
    this.#stopping = true;
    this.#carrier?.send({ kind: 'stop' });
    await this.#exited;
  }

  kill(): void {
    this.#stopping = true;
    this.#carrier?.kill();
  }
}

type OnExit = (code: number | null, signal: string | null, uncaught?: unknown) => void;

function startWorker(config: ChildConfig, onMessage: (m: ToParent) => void, onExit: OnExit, exited: () => void): Carrier {
  const broker = portBroker().portForNewWorker();
  const entry = workerEntry(config.module);
  const worker = new Worker(entry, { eval: typeof entry === 'string', workerData: { qiactBroker: broker, qiactChild: config }, transferList: [broker] });
  const label = `worker thread ${worker.threadId}`;
  worker.on('message', onMessage);
  // An uncaught error ends the thread; 'exit' follows and reports it.
  let uncaught: unknown;
  worker.on('error', (error) => (uncaught = error));
  worker.on('exit', (code) => {
    onExit(code, null, uncaught);
    exited();
  });
  return {
    label,
    send: (m) => worker.postMessage(m),
    kill: () => void worker.terminate(),
  };
}

/** `heapGrowingPercent`: V8's flag for the new process (a worker shares this process's flags). */
function startProcess(config: ChildConfig, heapGrowingPercent: number | undefined, onMessage: (m: ToParent) => void, onExit: OnExit, exited: () => void): Carrier {
  const execArgv = heapGrowingPercent === undefined ? process.execArgv : [...process.execArgv, `--heap-growing-percent=${heapGrowingPercent}`];
  const child: ChildProcess = fork(fileURLToPath(CHILD_MAIN), [], { execArgv, serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const label = `process ${child.pid}`;
  child.on('message', (m) => onMessage(m as ToParent));
  child.on('error', () => {});
  child.on('exit', (code, signal) => {
    onExit(code, signal);
    exited();
  });
  child.send({ kind: 'config', config } satisfies ToChild);
  return {
    label,
    send: (m) => {
      if (child.connected) child.send(m);
    },
    kill: () => void child.kill('SIGKILL'),
  };
}
