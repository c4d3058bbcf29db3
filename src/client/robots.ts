import { xml } from './xmpp-library.js';
import type { Element } from '@xmpp/xml';
import { robotPresence, xmppLogin, type RobotPresence, type XmppDialOptions } from './xmpp-dialer.js';

/**
 * The robots this XMPP account follows (its roster), each with its presence: online with its
 * name, machine id and services, or offline. Waits up to `waitMs` for presences to come in.
 */
export async function robots(options: XmppDialOptions & { readonly waitMs?: number }): Promise<RobotPresence[]> {
  const seen = new Map<string, RobotPresence>();
  let expected = new Set<string>();
  let done: () => void = () => {};
  const all = new Promise<void>((resolve) => (done = resolve));
  const xmpp = await xmppLogin(options, 10_000, (stanza) => {
    if (!stanza.is('presence')) return;
    const presence = robotPresence(stanza);
    if (presence === undefined) return;
    seen.set(presence.jid, presence);
    if ([...expected].every((jid) => seen.has(jid))) done();
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
