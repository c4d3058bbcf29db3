import { randomBytes } from 'node:crypto';
import type { Client } from '@xmpp/client';
import type { Element } from '@xmpp/xml';
import { AuthenticationError, InvalidArgumentError, UnreachableError } from '../errors.js';
import type { Link } from '../transport/link.js';
import { QIACT_NS, StanzaLink } from '../transport/stanza-link.js';
import type { Dialer } from './tls-dialer.js';
import { loadXmpp, xml } from './xmpp-library.js';
import type { RobotPresence, XmppDialOptions } from './xmpp-types.js';

const bare = (jid: string): string => jid.split('/')[0]!;

/** Whether a robot's presence lists its services (a directed one does; the broadcast one does not). */
export function listsServices(stanza: Element): boolean {
  return stanza.attrs.type === 'unavailable' || stanza.getChild('robot', QIACT_NS)?.attrs.services !== undefined;
}

/** Reads a robot's presence stanza; undefined if it is not a qiact robot's. */
export function robotPresence(stanza: Element): RobotPresence | undefined {
  const from = stanza.attrs.from as string | undefined;
  if (from === undefined) return undefined;
  if (stanza.attrs.type === 'unavailable') return { jid: bare(from), name: '', machineId: '', services: [], status: 'offline', online: false };
  const robot = stanza.getChild('robot', QIACT_NS);
  if (robot === undefined || stanza.attrs.type !== undefined) return undefined;
  const services = String(robot.attrs.services ?? '');
  return {
    jid: bare(from),
    name: String(robot.attrs.name ?? ''),
    machineId: String(robot.attrs.machine ?? ''),
    services: services === '' ? [] : services.split(' '),
    status: stanza.getChildText('status') ?? '',
    online: true,
  };
}

/** Logs in to XMPP as a client; rejects with UnreachableError if the server or the login fails. */
export async function xmppLogin(options: XmppDialOptions, timeoutMs: number, onStanza: (stanza: Element) => void): Promise<Client> {
  const jid = options.jid;
  if (typeof jid !== 'string' || !/^[^@/\s]+@[^@/\s]+$/.test(jid)) throw new InvalidArgumentError('jid', `${JSON.stringify(jid)} must be a bare JID, user@domain`);
  if (typeof options.password !== 'string') throw new InvalidArgumentError('password', 'is needed with jid');
  const [username, domain] = jid.split('@') as [string, string];
  const { client } = await loadXmpp();
  const xmpp = client({ service: options.service ?? domain, domain, username, password: options.password, resource: `qiact-${randomBytes(4).toString('hex')}` });
  xmpp.on('error', () => {});
  xmpp.on('stanza', onStanza);
  const where = options.service ?? domain;
  const started = xmpp.start();
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new UnreachableError(where, `XMPP login as ${jid} took more than ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([started, late]);
  } catch (error) {
    xmpp.reconnect.stop();
    // Stopped only once the login has settled: stopping it in the middle of SASL makes the XMPP
    // library reject a promise that nobody holds.
    void started.then(
      () => xmpp.stop().catch(() => {}),
      () => xmpp.stop().catch(() => {}),
    );
    if (error instanceof UnreachableError) throw error;
    throw new UnreachableError(where, `XMPP login as ${jid} failed: ${(error as Error).message || (error as { condition?: string }).condition || String(error)}`, { cause: error });
  } finally {
    clearTimeout(timer);
  }
  return xmpp;
}

/**
 * To a robot through an XMPP server (`xmpp:robot@example.net`): the client logs in as its own
 * JID once, follows the robot's presence, and each dial waits for the robot to be online, then
 * makes a link of stanzas to its full JID. The link closes when the robot goes offline (its
 * presence says so), or when this client's XMPP connection drops; the server's own reconnection
 * brings the login back.
 */
export class XmppDialer implements Dialer {
  readonly #robot: string;
  #xmpp: Client | null = null;
  #robotFull: string | null = null;
  #link: StanzaLink | null = null;
  #waiting: { wake: () => void; refuse: (error: Error) => void }[] = [];
  /** The robot refused to let this JID follow it: it has no permissions there. */
  #refused: AuthenticationError | null = null;

  constructor(
    readonly url: string,
    private readonly options: XmppDialOptions,
  ) {
    const m = /^xmpp:([^@/\s]+@[^@/\s]+)$/.exec(url);
    if (m === null) throw new InvalidArgumentError('url', `${JSON.stringify(url)} must be xmpp:robot@domain`);
    this.#robot = m[1]!;
  }

  async dial(timeoutMs: number): Promise<Link> {
    if (this.#xmpp === null) {
      this.#xmpp = await xmppLogin(this.options, timeoutMs, (stanza) => this.#stanza(stanza));
      const xmpp = this.#xmpp;
      const hello = async (): Promise<void> => {
        // Interested in the roster (so the robot's answer to the subscription is delivered),
        // available, following the robot's presence (it accepts JIDs it knows), and telling it so.
        await xmpp.iqCaller.get(xml('query', { xmlns: 'jabber:iq:roster' }));
        await xmpp.send(xml('presence'));
        await xmpp.send(xml('presence', { to: this.#robot, type: 'subscribe' }));
        await xmpp.send(xml('presence', { to: this.#robot }));
      };
      xmpp.on('online', () => void hello().catch(() => {}));
      xmpp.on('disconnect', () => this.#gone('this client lost its XMPP server'));
      await hello();
    }
    const full = await this.#robotOnline(timeoutMs);
    const xmpp = this.#xmpp;
    const link: StanzaLink = new StanzaLink(this.url, (base64) => void xmpp.send(xml('message', { to: full }, xml('q', { xmlns: QIACT_NS }, base64))).catch((error: Error) => link.close(new UnreachableError(this.url, error.message))), this.options.maxPayload ?? 1024 * 1024);
    this.#link = link;
    return link;
  }

  #robotOnline(timeoutMs: number): Promise<string> {
    if (this.#refused !== null) return Promise.reject(this.#refused);
    if (this.#robotFull !== null) return Promise.resolve(this.#robotFull);
    return new Promise((resolve, reject) => {
      const waiter = {
        wake: (): void => {
          clearTimeout(timer);
          resolve(this.#robotFull!);
        },
        refuse: (error: Error): void => {
          clearTimeout(timer);
          reject(error);
        },
      };
      const timer = setTimeout(() => {
        this.#waiting = this.#waiting.filter((w) => w !== waiter);
        reject(new UnreachableError(this.url, `the robot ${this.#robot} is not online (no presence within ${timeoutMs} ms)`));
      }, timeoutMs);
      this.#waiting.push(waiter);
    });
  }

  #gone(why: string): void {
    this.#robotFull = null;
    const link = this.#link;
    this.#link = null;
    link?.close(new UnreachableError(this.url, why));
  }

  #stanza(stanza: Element): void {
    const from = stanza.attrs.from as string | undefined;
    if (from === undefined || bare(from) !== this.#robot) return;
    if (stanza.is('presence')) {
      if (stanza.attrs.type === 'unsubscribed') {
        this.#refused = new AuthenticationError('jid', `the robot ${this.#robot} does not let ${this.options.jid} in`);
        for (const w of this.#waiting.splice(0)) w.refuse(this.#refused);
        return;
      }
      const presence = robotPresence(stanza);
      if (presence === undefined) return;
      if (!presence.online) {
        if (this.#robotFull === null || this.#robotFull === from) this.#gone(`the robot ${this.#robot} went offline`);
        return;
      }
      if (this.#robotFull !== from) {
        if (this.#robotFull !== null) this.#gone(`the robot ${this.#robot} came back as ${from}`);
        this.#robotFull = from;
      }
      for (const w of this.#waiting.splice(0)) w.wake();
      return;
    }
    if (!stanza.is('message') || from !== this.#robotFull) return;
    const payload = stanza.getChild('q', QIACT_NS);
    if (payload === undefined) return;
    if (stanza.attrs.type === 'error') return this.#gone(`the robot ${this.#robot} could not be reached`);
    this.#link?.receive(payload.text());
  }

  async close(): Promise<void> {
    const xmpp = this.#xmpp;
    this.#xmpp = null;
    this.#gone('the session was closed');
    if (xmpp === null) return;
    xmpp.reconnect.stop();
    try {
      await xmpp.send(xml('presence', { type: 'unavailable' }));
      await xmpp.stop();
    } catch {
      // Already offline.
    }
  }
}
