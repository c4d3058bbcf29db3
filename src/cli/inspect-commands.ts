import { DIRECTORY_NAME, type ServiceDirectory } from '../../actors/directory/directory.js';
import { describeOf } from '../remote.js';
import { formatInfo, formatServices, formatTree } from './format.js';
import { withRobot, type RobotOptions } from './session.js';

type Print = (line: string) => void;

/** `qiact ls`: every service, with its machine, process and endpoints. */
export function listServices(options: RobotOptions, print: Print, warn: Print): Promise<number> {
  return withRobot(options, warn, async (node) => {
    const services = await node.services();
    if (options.json) print(JSON.stringify(services));
    else for (const line of formatServices(services)) print(line);
    return 0;
  });
}

/** `qiact info <service>`: its directory entry and what it says of itself. */
export function serviceInfo(name: string, options: RobotOptions, print: Print, warn: Print): Promise<number> {
  return withRobot(options, warn, async (node) => {
    const directory = await node.service<ServiceDirectory>(DIRECTORY_NAME);
    const info = await directory.lookup(name);
    const description = describeOf(await node.service(name));
    if (options.json) print(JSON.stringify({ ...info, ...description }));
    else for (const line of formatInfo(info, description)) print(line);
    return 0;
  });
}

/** `qiact tree`: the supervision tree of every node the directory knows. */
export function trees(options: RobotOptions, print: Print, warn: Print): Promise<number> {
  return withRobot(options, warn, async (node) => {
    const nodes = await node.nodes();
    const all = await Promise.all(nodes.map(async (n) => ({ ...n, tree: await node.treeOf(n.node) })));
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
