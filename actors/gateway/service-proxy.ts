import { DIRECTORY_NAME, type ServiceDirectory } from '../directory/directory.js';
import type { Remote } from '../../src/remote.js';
import type { ServiceContext } from '../../src/service.js';
import type { Permissions } from './permissions.js';

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
