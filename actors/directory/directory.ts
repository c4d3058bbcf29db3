import type { Address } from '../../src/address.js';
import { InvalidArgumentError, NameTakenError, NoSuchServiceError } from '../../src/errors.js';
import { Service } from '../../src/service.js';
import { isServiceName } from '../../src/supervision/child-spec.js';

/** The directory's own service name, as in libqi. */
export const DIRECTORY_NAME = 'ServiceDirectory';

/** What the directory knows of one service, as libqi's ServiceInfo. */
export interface ServiceInfo {
  readonly name: string;
  readonly serviceId: number;
  readonly machineId: string;
  readonly processId: number;
  /** URLs the service's node is reachable on (`port:`, `unix:`, `tcp:`, `tls:`); empty in-thread. */
  readonly endpoints: readonly string[];
  /** Canonical address text of the service's actor. */
  readonly address: string;
}

export type Registration = Omit<ServiceInfo, 'serviceId'>;

/** The payload of serviceAdded / serviceRemoved. */
export interface ServiceEvent {
  readonly serviceId: number;
  readonly name: string;
}

/** The most services one directory holds: a flood of registrations is refused past it. */
export const MAX_SERVICES = 100_000;

interface Entry {
  info: ServiceInfo;
  ready: boolean;
}

/**
 * The ServiceDirectory: knows every service and its endpoints. Registration has two steps, as
 * in libqi: `register` reserves the name and gives the id, `ready` makes the service visible.
 * Only ready services are looked up, listed, and announced by serviceAdded.
 */
export class ServiceDirectory extends Service {
  readonly serviceAdded = this.signal<ServiceEvent>();
  readonly serviceRemoved = this.signal<ServiceEvent>();
  readonly #byId = new Map<number, Entry>();
  readonly #byName = new Map<string, number>();
  /** Service ids by node (`machineId/processId/threadId`): a dead node is purged without a scan. */
  readonly #byNode = new Map<string, Set<number>>();
  #nextId = 1;

  /**
   * `started` is told the directory's own address once it runs (the node attaches to it);
   * `endpoints` are its node's, listed with the directory's own entry.
   */
  constructor(
    private readonly started?: (self: Address) => void,
    private readonly endpoints: () => readonly string[] = () => [],
  ) {
    super();
  }

  override onStart(): void {
    const self = this.context.self;
    const id = this.#add({ name: DIRECTORY_NAME, machineId: self.machineId, processId: self.processId, endpoints: this.endpoints(), address: self.text });
    this.#byId.get(id)!.ready = true;
    this.started?.(self);
  }

  /** Reserves a name and returns the new service's id; the service is visible once `ready`. */
  register(info: Registration): number {
    if (typeof info !== 'object' || info === null) throw new InvalidArgumentError('service info', 'must be an object');
    if (!isServiceName(info.name)) throw new InvalidArgumentError('service name', `${shown(info.name)} must be 1-256 characters without spaces or '/'`);
    if (typeof info.address !== 'string') throw new InvalidArgumentError('service address', 'must be the address text of the service actor');
    const holder = this.#byName.get(info.name);
    if (holder !== undefined) throw new NameTakenError(info.name, this.#byId.get(holder)!.info.address);
    if (this.#byId.size >= MAX_SERVICES) throw new InvalidArgumentError('registration', `the directory holds its maximum of ${MAX_SERVICES} services`);
    return this.#add(info);
  }

  #add(info: Registration): number {
    const serviceId = this.#nextId++;
    const endpoints = Array.isArray(info.endpoints) ? info.endpoints.filter((e) => typeof e === 'string') : [];
    this.#byId.set(serviceId, {
      info: { name: info.name, serviceId, machineId: String(info.machineId), processId: Number(info.processId), endpoints, address: info.address },
      ready: false,
    });
    this.#byName.set(info.name, serviceId);
    const node = nodeOf(info.address);
    let ids = this.#byNode.get(node);
    if (ids === undefined) this.#byNode.set(node, (ids = new Set()));
    ids.add(serviceId);
    return serviceId;
  }

  ready(serviceId: number): void {
    const entry = this.#entry(serviceId);
    if (entry.ready) return;
    entry.ready = true;
    this.serviceAdded.emit({ serviceId, name: entry.info.name });
  }

  unregister(serviceId: number): void {
    const entry = this.#entry(serviceId);
    this.#byId.delete(serviceId);
    this.#byName.delete(entry.info.name);
    const node = nodeOf(entry.info.address);
    const ids = this.#byNode.get(node);
    ids?.delete(serviceId);
    if (ids?.size === 0) this.#byNode.delete(node);
    if (entry.ready) this.serviceRemoved.emit({ serviceId, name: entry.info.name });
  }

  lookup(name: string): ServiceInfo {
    const id = this.#byName.get(name);
    const entry = id === undefined ? undefined : this.#byId.get(id);
    if (entry === undefined || !entry.ready) throw new NoSuchServiceError(String(name));
    return entry.info;
  }

  list(): ServiceInfo[] {
    const out: ServiceInfo[] = [];
    for (const e of this.#byId.values()) if (e.ready) out.push(e.info);
    return out;
  }

  /**
   * Forgets every service of the node `machineId/processId/threadId`: it stopped or its link
   * dropped. Returns how many were removed.
   */
  removeNode(node: string): number {
    if (typeof node !== 'string') throw new InvalidArgumentError('node', 'must be machineId/processId/threadId');
    let removed = 0;
    for (const serviceId of [...(this.#byNode.get(node) ?? [])]) {
      if (this.#byId.get(serviceId)?.info.name === DIRECTORY_NAME) continue;
      this.unregister(serviceId);
      removed++;
    }
    return removed;
  }

  /** Changes a service's endpoints, e.g. when its node starts listening somewhere new. */
  updateInfo(serviceId: number, update: { endpoints: readonly string[] }): void {
    const entry = this.#entry(serviceId);
    if (!Array.isArray(update?.endpoints)) throw new InvalidArgumentError('endpoints', 'must be an array of endpoint URLs');
    entry.info = { ...entry.info, endpoints: update.endpoints.filter((e) => typeof e === 'string') };
  }

  #entry(serviceId: number): Entry {
    const entry = this.#byId.get(serviceId);
    if (entry === undefined) throw new InvalidArgumentError('serviceId', `no service has id ${String(serviceId)}`);
    return entry;
  }
}

/** The node part of an address text: everything before the actor id. */
function nodeOf(address: string): string {
  return address.slice(0, address.lastIndexOf('/'));
}

/** A bad value for an error message, cut short: a megabyte of name must not become a megabyte of log. */
function shown(value: unknown): string {
  const text = typeof value === 'string' ? value : String(value);
  return text.length <= 64 ? `'${text}'` : `'${text.slice(0, 40)}…' (${text.length} characters)`;
}
