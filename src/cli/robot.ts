import { readFileSync } from 'node:fs';
import type { ServiceDirectory } from '../../actors/directory/directory.js';
import { DIRECTORY_NAME, type ServiceInfo } from '../directory/entries.js';
import type { ServiceDescription } from '../behaviour.js';
import { connect, type ConnectOptions, type Session } from '../client/gateway-client.js';
import { AuthenticationError, UnreachableError } from '../errors.js';
import type { Node, NodeInfo } from '../node.js';
import { describeOf, type Remote } from '../remote.js';
import type { TreeNode } from '../supervision/supervisor.js';
import type { NodeMetrics } from '../observe/metrics.js';
import { ROBOT_METRICS_NAME, type NodeTree, type RobotMetricsService } from '../../actors/metrics/robot-metrics.js';

/** How long `qiact tree` through a door waits for RobotMetrics to send the trees. */
const TREES_WAIT_MS = 10_000;
import { joinRobot, timeoutOf, UsageError, type RobotOptions } from './session.js';

/** A service as a listing shows it: everything from inside, its name only through the gateway. */
export type Listed = Pick<ServiceInfo, 'name'> & Partial<ServiceInfo>;

/** What the commands need of a robot, whether joined from inside or reached through its Gateway. */
export interface Robot {
  /** `directory` or `gateway`: how this command reached the robot. */
  readonly via: string;
  service<T>(name: string): Promise<Remote<T>>;
  list(): Promise<Listed[]>;
  info(name: string): Promise<{ info: Listed; description: ServiceDescription }>;
  trees(): Promise<(NodeInfo & { tree: TreeNode })[]>;
  /**
   * Samples of every node, to `each`, every `intervalMs` (from inside) or as the robot's
   * RobotMetrics service sends them (through a door: one a second); resolves once watching.
   */
  watchMetrics(intervalMs: number, each: (sample: NodeMetrics[]) => void, failed: (error: unknown) => void): Promise<{ off(): void }>;
  close(): Promise<void>;
}

function fromNode(node: Node): Robot {
  return {
    via: 'directory',
    service: (name) => node.service(name),
    list: () => node.services(),
    info: async (name) => {
      const info = await (await node.service<ServiceDirectory>(DIRECTORY_NAME)).lookup(name);
      return { info, description: describeOf(await node.service(name)) };
    },
    trees: async () => Promise.all((await node.nodes()).map(async (n) => ({ ...n, tree: await node.treeOf(n.node) }))),
    watchMetrics: async (intervalMs, each, failed) => {
      let on = true;
      const loop = async (): Promise<void> => {
        while (on) {
          const started = Date.now();
          try {
            each(await node.robotMetrics());
          } catch (error) {
            failed(error);
          }
          await new Promise((resolve) => setTimeout(resolve, Math.max(0, intervalMs - (Date.now() - started))));
        }
      };
      void loop();
      return { off: () => void (on = false) };
    },
    close: () => node.stop(),
  };
}

/** The robot's RobotMetrics through a door, or an error that says which permission it takes. */
async function robotMetricsOf(session: Session, member: 'samples' | 'treesChanged'): Promise<Remote<RobotMetricsService>> {
  const refused = (why: string, cause?: unknown): Error =>
    new Error(`the robot offers no ${ROBOT_METRICS_NAME}.${member} to this client (${why}); qiact gateway runs ${ROBOT_METRICS_NAME}, and the client's permissions must allow ${ROBOT_METRICS_NAME}.${member}`, { cause });
  const metrics = await session.service<RobotMetricsService>(ROBOT_METRICS_NAME).catch((error: unknown) => {
    throw refused((error as Error).message, error);
  });
  // The door describes only what this client may use: a member left out is not allowed to it.
  const offered = describeOf(metrics);
  if (![...offered.methods.map((m) => m.name), ...offered.signals].includes(member)) throw refused(`${session.identity} may not use it`);
  return metrics;
}

function fromSession(session: Session): Robot {
  return {
    via: 'gateway',
    service: (name) => session.service(name),
    list: async () => (await session.services()).map((name) => ({ name })),
    info: async (name) => ({ info: { name }, description: describeOf(await session.service(name)) }),
    trees: async () => {
      // Through the signal, which read-only identities may watch too: RobotMetrics sends the
      // trees to each new watcher at its next tick.
      const metrics = await robotMetricsOf(session, 'treesChanged');
      let got: (trees: NodeTree[]) => void = () => {};
      const first = new Promise<NodeTree[]>((resolve) => (got = resolve));
      const sub = await metrics.treesChanged.connect((trees) => got(trees));
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${ROBOT_METRICS_NAME} sent no trees within ${TREES_WAIT_MS} ms`)), TREES_WAIT_MS);
      });
      try {
        return await Promise.race([first, late]);
      } finally {
        clearTimeout(timer);
        sub.off();
      }
    },
    watchMetrics: async (_intervalMs, each) => {
      const sub = await (await robotMetricsOf(session, 'samples')).samples.connect(each);
      return { off: () => sub.off() };
    },
    close: () => session.close(),
  };
}

/** Options of the commands that reach a robot from outside, through its Gateway or XMPP. */
export interface GatewayCliOptions {
  gateway?: string;
  token?: string;
  ca?: string;
  cert?: string;
  key?: string;
  proxy?: string;
  /** This client's own JID: reach the robot through XMPP. */
  xmpp?: string;
  /** The robot's JID. */
  robot?: string;
  password?: string;
  xmppServer?: string;
}

function file(path: string | undefined, what: string): string | undefined {
  if (path === undefined) return undefined;
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read the ${what} ${path}: ${(error as Error).message}`);
  }
}

/**
 * The robot a command talks to: through the Gateway with `--gateway` (and `--token` or
 * `--cert`/`--key`, `--ca`, `--proxy`; the token may also come from QIACT_TOKEN), else by
 * joining its directory as a node.
 */
export async function openRobot(options: RobotOptions & GatewayCliOptions, warn: (line: string) => void, env: NodeJS.ProcessEnv = process.env): Promise<Robot> {
  if (options.xmpp !== undefined) return throughXmpp(options, warn, env);
  if (options.gateway === undefined) return fromNode(await joinRobot(options, warn));
  const token = options.token ?? env.QIACT_TOKEN;
  if ((options.cert === undefined) !== (options.key === undefined)) throw new UsageError('--cert and --key go together');
  if (token === undefined && options.cert === undefined) throw new UsageError('--gateway needs --token (or QIACT_TOKEN) or --cert and --key');
  const timeout = timeoutOf(options);
  const connectOptions: ConnectOptions = {
    ...(token === undefined ? {} : { token }),
    ...(options.cert === undefined ? {} : { cert: file(options.cert, 'certificate'), key: file(options.key, 'key') }),
    ...(options.ca === undefined ? {} : { ca: file(options.ca, 'CA certificate') }),
    ...(options.proxy === undefined ? {} : { proxy: options.proxy }),
    ...(timeout === undefined ? {} : { callTimeout: timeout }),
    onWarning: options.verbose ? (message) => warn(`qiact: ${message}`) : () => {},
  };
  try {
    return fromSession(await connect(options.gateway, connectOptions));
  } catch (error) {
    if (error instanceof AuthenticationError) throw new Error(`the gateway at ${options.gateway} refused this client: ${error.message}`, { cause: error });
    const why = error instanceof UnreachableError ? error.reason : (error as Error).message;
    throw new Error(`cannot reach the gateway at ${options.gateway}: ${why}`, { cause: error });
  }
}

/** The XMPP login of `--xmpp JID --password P [--xmpp-server URL]` (password also from QIACT_XMPP_PASSWORD). */
export function xmppLoginOf(options: GatewayCliOptions, env: NodeJS.ProcessEnv = process.env): { jid: string; password: string; service?: string } {
  const password = options.password ?? env.QIACT_XMPP_PASSWORD;
  if (options.xmpp === undefined || !/^[^@/\s]+@[^@/\s]+$/.test(options.xmpp)) throw new UsageError(`--xmpp needs this client's own JID, user@domain${options.xmpp ? `, not '${options.xmpp}'` : ''}`);
  if (password === undefined) throw new UsageError('--xmpp needs --password (or QIACT_XMPP_PASSWORD)');
  return { jid: options.xmpp, password, ...(options.xmppServer === undefined ? {} : { service: options.xmppServer }) };
}

async function throughXmpp(options: RobotOptions & GatewayCliOptions, warn: (line: string) => void, env: NodeJS.ProcessEnv): Promise<Robot> {
  const login = xmppLoginOf(options, env);
  if (options.robot === undefined) throw new UsageError('--xmpp needs --robot, the robot\'s JID (qiact robots lists them)');
  const timeout = timeoutOf(options);
  const url = `xmpp:${options.robot}`;
  try {
    return fromSession(await connect(url, { ...login, ...(timeout === undefined ? {} : { callTimeout: timeout }), onWarning: options.verbose ? (message) => warn(`qiact: ${message}`) : () => {} }));
  } catch (error) {
    if (error instanceof AuthenticationError) throw new Error(`the robot ${options.robot} refused ${login.jid}: ${error.message}`, { cause: error });
    const why = error instanceof UnreachableError ? error.reason : (error as Error).message;
    throw new Error(`cannot reach ${options.robot} through XMPP: ${why}`, { cause: error });
  }
}

/** Runs `fn` with the robot, and lets go of it after, whatever happens. */
export async function withRobot<T>(options: RobotOptions & GatewayCliOptions, warn: (line: string) => void, fn: (robot: Robot) => Promise<T>): Promise<T> {
  const robot = await openRobot(options, warn);
  try {
    return await fn(robot);
  } finally {
    await robot.close();
  }
}
