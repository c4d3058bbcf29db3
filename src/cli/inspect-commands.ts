import { robots } from '../client/robots.js';
import { columns, formatInfo, formatServices, formatTree } from './format.js';
import { withRobot, xmppLoginOf, type GatewayCliOptions } from './robot.js';
import type { RobotOptions } from './session.js';

type Print = (line: string) => void;
type Options = RobotOptions & GatewayCliOptions;

/** `qiact ls`: every service, with its machine, process and endpoints (names only through the gateway). */
export function listServices(options: Options, print: Print, warn: Print): Promise<number> {
  return withRobot(options, warn, async (robot) => {
    const services = await robot.list();
    if (options.json) print(JSON.stringify(services));
    else for (const line of formatServices(services)) print(line);
    return 0;
  });
}

/** `qiact info <service>`: its directory entry and what it says of itself. */
export function serviceInfo(name: string, options: Options, print: Print, warn: Print): Promise<number> {
  return withRobot(options, warn, async (robot) => {
    const { info, description } = await robot.info(name);
    if (options.json) print(JSON.stringify({ ...info, ...description }));
    else for (const line of formatInfo(info, description)) print(line);
    return 0;
  });
}

/** `qiact tree`: the supervision tree of every node the directory knows. */
export function trees(options: Options, print: Print, warn: Print): Promise<number> {
  return withRobot(options, warn, async (robot) => {
    const all = await robot.trees();
    if (options.json) print(JSON.stringify(all));
    else {
      for (const n of all) {
        print(`node ${n.node} (${n.endpoints.join(' ') || 'no endpoints'})`);
        for (const line of formatTree(n.tree, '  ')) print(line);
      }
    }
    return 0;
  });
}

/** `qiact robots --xmpp you@server`: the robots this account follows, with their presence. */
export async function listRobots(options: GatewayCliOptions & { json?: boolean }, print: Print): Promise<number> {
  const found = await robots(xmppLoginOf(options));
  if (options.json) print(JSON.stringify(found));
  else {
    const rows = [['ROBOT', 'NAME', 'STATUS', 'MACHINE', 'SERVICES']];
    for (const r of found) rows.push([r.jid, r.name || '-', r.online ? 'online' : 'offline', r.machineId || '-', r.services.join(' ') || '-']);
    for (const line of columns(rows)) print(line);
  }
  return 0;
}
