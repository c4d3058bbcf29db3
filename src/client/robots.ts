import { xml } from './xmpp-library.js';
import type { Element } from '@xmpp/xml';
import { listsServices, robotPresence, xmppLogin } from './xmpp-dialer.js';
import type { RobotPresence, XmppDialOptions } from './xmpp-types.js';

/**
 * The robots this XMPP account follows (its roster), each with its presence: online with its
 * name, machine id and the services this account may use, or offline. A robot's broadcast
 * presence says only that it is online; each robot is asked with a directed presence, and its
 * answer lists the services. Waits up to `waitMs` for the answers to come in.
 */
export async function robots(options: XmppDialOptions & { readonly waitMs?: number }): Promise<RobotPresence[]> {
  const seen = new Map<string, RobotPresence>();
  /** Robots whose answer is in: a presence that lists services, or one that says offline. */
  const answered = new Set<string>();
  let expected = new Set<string>();
  let done: () => void = () => {};
  const all = new Promise<void>((resolve) => (done = resolve));
  const xmpp = await xmppLogin(options, 10_000, (stanza) => {
    if (!stanza.is('presence')) return;
    const presence = robotPresence(stanza);
    if (presence === undefined) return;
    const listed = listsServices(stanza);
    const before = seen.get(presence.jid);
    // A broadcast after the answer keeps the services the answer listed.
    seen.set(presence.jid, !listed && before !== undefined && presence.online ? { ...presence, services: before.services } : presence);
    if (listed) answered.add(presence.jid);
    if ([...expected].every((jid) => answered.has(jid))) done();
  });
  try {
    const roster = await xmpp.iqCaller.get(xml('query', { xmlns: 'jabber:iq:roster' }));
    expected = new Set(
      roster
        .getChildren('item')
        .filter((item: Element) => item.attrs.subscription === 'to' || item.attrs.subscription === 'both')
        .map((item: Element) => String(item.attrs.jid)),
    );
    await xmpp.send(xml('presence'));
    for (const jid of expected) await xmpp.send(xml('presence', { to: jid }));
    if (expected.size > 0) {
      // Cleared once every presence is in: a timer left running would hold the program 2 s more.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([all, new Promise((resolve) => (timer = setTimeout(resolve, options.waitMs ?? 2000)))]);
      clearTimeout(timer);
    }
    return [...expected].sort().map((jid) => seen.get(jid) ?? { jid, name: '', machineId: '', services: [], status: 'offline', online: false });
  } finally {
    xmpp.reconnect.stop();
    await xmpp.stop().catch(() => {});
  }
}
