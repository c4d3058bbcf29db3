/**
 * @xmpp/client, loaded on first use. Importing it costs about 200 ms of CPU (two thirds of
 * loading all of qiact), and most nodes never speak XMPP: every worker, child process and
 * `qiact` command would pay for it at start.
 */
type XmppModule = typeof import('@xmpp/client');

let loading: Promise<XmppModule> | undefined;

/** The stanza builder, usable once {@link loadXmpp} has resolved (a live binding). */
export let xml: XmppModule['xml'] = () => {
  throw new Error('@xmpp/client is not loaded yet: await loadXmpp() first');
};

/** Loads @xmpp/client once; later calls get the same module. */
export function loadXmpp(): Promise<XmppModule> {
  return (loading ??= import('@xmpp/client').then((module) => {
    xml = module.xml;
    return module;
  }));
}
