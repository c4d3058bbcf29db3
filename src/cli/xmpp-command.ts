import { readFileSync } from 'node:fs';
import { xmppLink, type XmppLinkOptions, type XmppLinkService } from '../../actors/xmpp/xmpp-link.js';
import { runPart, UsageError, type RobotOptions } from './session.js';

/** The XMPP link's name in the directory. */
export const XMPP_LINK_NAME = 'XmppLink';

/** The link's configuration file: XmppLinkOptions as JSON; the password may instead come from QIACT_XMPP_PASSWORD. */
export function readXmppConfig(path: string, env: NodeJS.ProcessEnv = process.env): XmppLinkOptions {
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (error) {
    throw new UsageError(`cannot read the XMPP configuration ${path}: ${(error as Error).message}`);
  }
  const password = config.password ?? env.QIACT_XMPP_PASSWORD;
  if (typeof password !== 'string') throw new UsageError(`${path}: no 'password', and QIACT_XMPP_PASSWORD is not set`);
  return { ...(config as unknown as XmppLinkOptions), password };
}

/**
 * `qiact xmpp --config FILE`: a node that joins the robot's directory and runs its XMPP link
 * under a supervisor, so that the robot is present on the XMPP server and reachable through it
 * from behind a NAT, until Ctrl-C.
 */
export async function runXmppLink(options: RobotOptions & { config: string }, print: (line: string) => void, warn: (line: string) => void): Promise<number> {
  const child = { id: 'xmpp', name: XMPP_LINK_NAME, start: xmppLink(readXmppConfig(options.config)) };
  return runPart('xmpp', options, child, async (node) => {
    const link = await node.service<XmppLinkService>(XMPP_LINK_NAME);
    if (!(await link.online.get())) await new Promise<void>((resolve) => void link.online.connect((online) => online && resolve()));
    const jid = await link.jid();
    return { event: 'online', jid, line: `online as ${jid}` };
  }, print, warn);
}
