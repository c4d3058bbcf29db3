import { Address } from '../../src/address.js';
import { InvalidArgumentError, NameTakenError, NoSuchServiceError, PermissionDeniedError } from '../../src/errors.js';
import { Service } from '../../src/service.js';
import { isServiceName } from '../../src/supervision/child-spec.js';
import { DIRECTORY_NAME, UNREGISTER_BATCH, type Registration, type ServiceEvent, type ServiceInfo } from '../../src/directory/entries.js';

export { DIRECTORY_NAME, type Registration, type ServiceEvent, type ServiceInfo };

/** The most services one directory holds by default (`directoryCapacity`): a flood of registrations is refused past it. */
export const MAX_SERVICES = 100_000;

interface Entry {
  info: ServiceInfo;
  ready: boolean;
  /** The node that registered it, as proven on its link (or this node). */
  owner: string;
  /** The link it was registered over; null from the directory's own thread. */
  link: number | null;
}

/** A service's info as made from its registration, before the directory gives it its id. */
type NewEntry = { -readonly [K in keyof ServiceInfo]: ServiceInfo[K] };

/** How many endpoints one registration may list, and how long each may be. */
const MAX_ENDPOINTS = 16;
const MAX_ENDPOINT_LENGTH = 512;

/**
 * The ServiceDirectory: knows every service and its endpoints. Registration has two steps, as
 * in libqi: `register` reserves the name and gives the id, `ready` makes the service visible.
 * Only ready services are looked up, listed, and announced by serviceAdded.
 *
 * Every method checks its arguments (a wrong type is a typed refusal, never a crash) and who
 * calls it: another node registers, readies, updates and unregisters only its own services (the
 * identity its link proved), and what a link registered goes when that link closes. The
 * directory's own node is trusted to register on behalf of others (tests, bridges).
 */
export class ServiceDirectory extends Service {
  readonly serviceAdded = this.signal<ServiceEvent>();
  readonly serviceRemoved = this.signal<ServiceEvent>();
  readonly #byId = new Map<number, Entry>();
  readonly #byName = new Map<string, number>();
  /** Service ids by the link that registered them: a closed link is purged without a scan. */
  readonly #byLink = new Map<number, Set<number>>();
  #nextId = 1;

  /**
   * `started` is told the directory's own address once it runs (the node attaches to it);
   * `endpoints` are its node's, listed with the directory's own entry.
   */
  constructor(
    private readonly started?: (self: Address) => void,
    private readonly endpoints: () => readonly string[] = () => [],
    private readonly capacity = MAX_SERVICES,
  ) {
    super();
  }

  override onStart(): void {
    const self = this.context.self;
    const id = this.#add({ name: DIRECTORY_NAME, serviceId: 0, machineId: self.machineId, processId: self.processId, endpoints: this.endpoints(), address: self.text }, this.#nodeOf(self.text), null);
    this.#byId.get(id)!.ready = true;
    this.started?.(self);
  }

  /** Reserves a name and returns the new service's id; the service is visible once `ready`. */
  register(info: Registration): number {
    const caller = this.context.caller();
    const checked = checkRegistration(info);
    const node = this.#nodeOf(checked.address);
    if (caller.link !== null && node !== caller.node) {
      throw new PermissionDeniedError({ service: DIRECTORY_NAME, method: 'register', address: checked.address }, `node ${caller.node}`);
    }
    const holder = this.#byName.get(checked.name);
    if (holder !== undefined) {
      const held = this.#byId.get(holder)!;
      // The same node registering its name again over another link: that link is gone or going
      // (the node lost it and found the directory again before we saw it close).
      if (caller.link === null || held.owner !== caller.node || held.link === caller.link) throw new NameTakenError(checked.name, held.info.address);
      this.#remove(holder);
    }
    if (this.#byId.size >= this.capacity) throw new InvalidArgumentError('registration', `the directory holds its maximum of ${this.capacity} services (directoryCapacity)`);
    return this.#add(checked, caller.link === null ? node : caller.node, caller.link);
  }

  /**
   * The node part of an address text (everything before the actor id), the same string for
   * every service of one node: a node registers its services one after another, and an entry
   * then keeps no copy of its node's name.
   */
  #nodeOf(address: string): string {
    const last = this.#lastNode;
    const cut = address.lastIndexOf('/');
    if (cut === last.length && address.startsWith(last)) return last;
    return (this.#lastNode = address.slice(0, cut));
  }

  #lastNode = '';

  /** Keeps `info` (made here, never shared before) as the entry of a new service. */
  #add(info: NewEntry, owner: string, link: number | null): number {
    const serviceId = this.#nextId++;
    info.serviceId = serviceId;
    this.#byId.set(serviceId, { info, ready: false, owner, link });
    this.#byName.set(info.name, serviceId);
    if (link !== null) {
      let ids = this.#byLink.get(link);
      if (ids === undefined) this.#byLink.set(link, (ids = new Set()));
      ids.add(serviceId);
    }
    return serviceId;
  }

  ready(serviceId: number): void {
    const entry = this.#own(serviceId, 'ready');
    if (entry.ready) return;
    entry.ready = true;
    this.serviceAdded.emit({ serviceId, name: entry.info.name });
  }

  /**
   * Removes a service, or a list of up to UNREGISTER_BATCH (a node sends those released in one
   * turn together). In a list, ids no longer held are passed over (gone already); every other
   * one must be the caller's, or none is removed.
   */
  unregister(serviceIds: number | readonly number[]): void {
    if (!Array.isArray(serviceIds)) {
      this.#own(serviceIds as number, 'unregister');
      this.#remove(serviceIds as number);
      return;
    }
    if (serviceIds.length > UNREGISTER_BATCH) throw new InvalidArgumentError('serviceIds', `at most ${UNREGISTER_BATCH} in one unregister, not ${serviceIds.length}`);
    const held = serviceIds.filter((id) => !Number.isSafeInteger(id) || this.#byId.has(id));
    for (const id of held) this.#own(id, 'unregister');
    for (const id of held) if (this.#byId.has(id)) this.#remove(id);
  }

  #remove(serviceId: number): void {
    const entry = this.#byId.get(serviceId)!;
    this.#byId.delete(serviceId);
    this.#byName.delete(entry.info.name);
    if (entry.link !== null) {
      const ids = this.#byLink.get(entry.link);
      ids?.delete(serviceId);
      if (ids?.size === 0) this.#byLink.delete(entry.link);
    }
    if (entry.ready) this.serviceRemoved.emit({ serviceId, name: entry.info.name });
  }

  lookup(name: string): ServiceInfo {
    if (typeof name !== 'string') throw new InvalidArgumentError('name', `must be a service name, not ${typeof name}`);
    const id = this.#byName.get(name);
    const entry = id === undefined ? undefined : this.#byId.get(id);
    if (entry === undefined || !entry.ready) throw new NoSuchServiceError(name);
    return entry.info;
  }

  list(): ServiceInfo[] {
    const out: ServiceInfo[] = [];
    for (const e of this.#byId.values()) if (e.ready) out.push(e.info);
    return out;
  }

  /**
   * Forgets every service registered over the link `link`: it closed. Only the directory's own
   * node says so (its router sees the link close); another node may not. Returns how many
   * were removed.
   */
  linkClosed(link: number): number {
    if (this.context.caller().link !== null) {
      throw new PermissionDeniedError({ service: DIRECTORY_NAME, method: 'linkClosed', address: this.context.self.text }, `node ${this.context.caller().node}`);
    }
    if (!Number.isSafeInteger(link)) throw new InvalidArgumentError('link', 'must be a link number');
    const ids = [...(this.#byLink.get(link) ?? [])];
    for (const serviceId of ids) this.#remove(serviceId);
    return ids.length;
  }

  /** Changes a service's endpoints, e.g. when its node starts listening somewhere new. */
  updateInfo(serviceId: number, update: { endpoints: readonly string[] }): void {
    const entry = this.#own(serviceId, 'updateInfo');
    if (typeof update !== 'object' || update === null) throw new InvalidArgumentError('update', 'must be { endpoints: [...] }');
    entry.info = { ...entry.info, endpoints: checkEndpoints(update.endpoints) };
  }

  /** The entry `serviceId`, if the caller may change it: its own node's, or anyone's from this thread. */
  #own(serviceId: number, method: string): Entry {
    const caller = this.context.caller();
    if (!Number.isSafeInteger(serviceId)) throw new InvalidArgumentError('serviceId', `must be a service id, not ${typeof serviceId === 'number' ? serviceId : typeof serviceId}`);
    const entry = this.#byId.get(serviceId);
    if (entry === undefined) throw new InvalidArgumentError('serviceId', `no service has id ${serviceId}`);
    if (caller.link !== null && entry.owner !== caller.node) {
      throw new PermissionDeniedError({ service: DIRECTORY_NAME, method, address: entry.info.address }, `node ${caller.node}`);
    }
    return entry;
  }
}

/**
 * A registration from the wire, checked field by field (machineId and processId must match the
 * address), as the entry to keep: a new object, built field by field (an object spread cost 2-3
 * µs a registration, its slow path), its id given when it is added.
 */
function checkRegistration(info: unknown): NewEntry {
  if (typeof info !== 'object' || info === null || Array.isArray(info)) throw new InvalidArgumentError('service info', 'must be a map');
  const { name, address, machineId, processId, endpoints } = info as Record<string, unknown>;
  if (!isServiceName(name)) throw new InvalidArgumentError('service name', `${shown(name)} must be 1-256 characters without spaces or '/'`);
  if (typeof address !== 'string') throw new InvalidArgumentError('service address', 'must be the address text of the service actor');
  const parsed = Address.parse(address);
  if (machineId !== undefined && machineId !== parsed.machineId) throw new InvalidArgumentError('machineId', `${shown(machineId)} is not the machine of ${address}`);
  if (processId !== undefined && processId !== parsed.processId) throw new InvalidArgumentError('processId', `${shown(processId)} is not the process of ${address}`);
  // The text given is kept (parse takes only the canonical form): in-thread, it is the string the actor's own address holds.
  return { name, serviceId: 0, machineId: parsed.machineId, processId: parsed.processId, endpoints: checkEndpoints(endpoints ?? []), address };
}

function checkEndpoints(endpoints: unknown): readonly string[] {
  if (!Array.isArray(endpoints) || endpoints.length > MAX_ENDPOINTS) throw new InvalidArgumentError('endpoints', `must be an array of at most ${MAX_ENDPOINTS} endpoint URLs`);
  for (const e of endpoints) {
    if (typeof e !== 'string' || e.length > MAX_ENDPOINT_LENGTH) throw new InvalidArgumentError('endpoints', `each must be an endpoint URL of at most ${MAX_ENDPOINT_LENGTH} characters`);
  }
  // A frozen list (a node's own, shared by all its services) is kept as it is: no copy per entry.
  return Object.isFrozen(endpoints) ? (endpoints as readonly string[]) : [...(endpoints as string[])];
}

/** A bad value for an error message, cut short: a megabyte of name must not become a megabyte of log. */
function shown(value: unknown): string {
  if (typeof value !== 'string') return typeof value === 'number' || typeof value === 'boolean' ? String(value) : `a value of type ${value === null ? 'null' : typeof value}`;
  return value.length <= 64 ? `'${value}'` : `'${value.slice(0, 40)}…' (${value.length} characters)`;
}
