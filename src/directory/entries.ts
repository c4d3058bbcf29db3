/**
 * The directory's words, shared by the node (its directory client) and the ServiceDirectory
 * actor in actors/directory/: the core knows the directory through these and nothing else.
 */

/** The directory's own service name, as in libqi. */
export const DIRECTORY_NAME = 'ServiceDirectory';

/** The most service ids one `unregister` takes: a node sends those released in one turn together. */
export const UNREGISTER_BATCH = 4096;

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

/**
 * What a node's directory client registered for one actor, kept on the actor itself
 * (`actor.registration`): a map from actor to record was one more first touch of a table of a
 * million entries per named spawn. It lives here, not in client.ts, so that actor.ts imports no
 * module that imports actor.ts back.
 */
export interface Registered {
  readonly name: string;
  /** The directory this id was given by: an id from an earlier directory means nothing to a new one. */
  directory: string | null;
  id: number;
  ready: boolean;
}
