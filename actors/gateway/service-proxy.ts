import { DIRECTORY_NAME, type ServiceDirectory } from '../directory/directory.js';
import type { Remote } from '../../src/remote.js';
import type { ServiceContext } from '../../src/service.js';
import { systemClock } from '../../src/clock.js';
import { FailureLimiter } from './failures.js';
import type { Permissions } from './permissions.js';
import type { GatewayLimits, GatewaySession, SessionHost } from './session.js';

/**
 * The inside as a door (the Gateway, the XMPP link) sees it: one handle per service name, made
 * once by the door's own actor and shared by all its clients, and the services an identity may see.
 */
export class ServiceProxy {
  readonly #handles = new Map<string, Promise<Remote<unknown>>>();

  constructor(
    private readonly context: () => ServiceContext,
    private readonly permissions: Permissions,
  ) {}

  handle(name: string): Promise<Remote<unknown>> {
    let handle = this.#handles.get(name);
    if (handle === undefined) {
      handle = this.context().service(name);
      this.#handles.set(name, handle);
      handle.catch(() => this.#handles.delete(name));
    }
    return handle;
  }

  async visible(identity: string): Promise<string[]> {
    const directory = (await this.handle(DIRECTORY_NAME)) as Remote<ServiceDirectory>;
    return (await directory.list()).map((s) => s.name).filter((name) => this.permissions.mayUse(identity, name));
  }
}

/** What the sessions of a door (the Gateway, the XMPP link) need of it. */
export function doorHost(
  context: () => ServiceContext,
  door: { limits: GatewayLimits; permissions: Permissions; allowUndeclared: boolean; limiter: FailureLimiter; closed(session: GatewaySession): void },
): SessionHost {
  const proxy = new ServiceProxy(context, door.permissions);
  // Crashes caused per outside identity, in a minute's sliding window.
  const crashes = new FailureLimiter(systemClock, door.limits.maxCrashesPerMinute, 60_000);
  return {
    clock: systemClock,
    limits: door.limits,
    permissions: door.permissions,
    allowUndeclared: door.allowUndeclared,
    failed: (key) => door.limiter.fail(key),
    blocked: (key) => door.limiter.blocked(key),
    crashed: (identity) => {
      crashes.fail(identity);
      return crashes.blocked(identity);
    },
    crashing: (identity) => crashes.blocked(identity),
    handle: (name) => proxy.handle(name),
    visible: (identity) => proxy.visible(identity),
    closed: (session) => door.closed(session),
    warn: (message, error) => context().warn(message, error),
  };
}
