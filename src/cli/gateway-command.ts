import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { DEFAULT_GATEWAY_PORT, gateway, type GatewayOptions, type GatewayService } from '../../actors/gateway/gateway.js';
import { newToken } from '../../actors/gateway/tokens.js';
import { robotMetrics, ROBOT_METRICS_NAME } from '../../actors/metrics/robot-metrics.js';
import { ChildStartError, NameTakenError } from '../errors.js';
import { runPart, UsageError, type RobotOptions } from './session.js';

/** The Gateway's name in the directory. */
export const GATEWAY_NAME = 'Gateway';

/**
 * The gateway's configuration file: GatewayOptions as JSON, except that `cert`, `key` and `ca`
 * are paths to PEM files (relative to the configuration file).
 */
export function readGatewayConfig(path: string): GatewayOptions {
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (error) {
    throw new UsageError(`cannot read the gateway configuration ${path}: ${(error as Error).message}`);
  }
  const pem = (key: string, required: boolean): string | undefined => {
    const value = config[key];
    if (value === undefined && !required) return undefined;
    if (typeof value !== 'string') throw new UsageError(`${path}: '${key}' must be the path of a PEM file`);
    try {
      return readFileSync(resolve(dirname(path), value), 'utf8');
    } catch (error) {
      throw new UsageError(`${path}: cannot read '${key}' ${value}: ${(error as Error).message}`);
    }
  };
  const ca = pem('ca', false);
  return {
    ...(config as unknown as GatewayOptions),
    listen: typeof config.listen === 'string' ? config.listen : `tls://0.0.0.0:${DEFAULT_GATEWAY_PORT}`,
    cert: pem('cert', true)!,
    key: pem('key', true)!,
    ...(ca === undefined ? {} : { ca }),
  };
}

/**
 * `qiact gateway --config FILE`: a node that joins the robot's directory and runs the Gateway
 * under a supervisor (restarted if it crashes), until Ctrl-C. Beside it runs the robot's
 * RobotMetrics service (unless another node offers one), which `qiact top --gateway` watches.
 */
export async function runGateway(options: RobotOptions & { config: string }, print: (line: string) => void, warn: (line: string) => void): Promise<number> {
  const child = { id: 'gateway', name: GATEWAY_NAME, start: gateway(readGatewayConfig(options.config)) };
  return runPart('gateway', options, child, async (node) => {
    const door = await node.service<GatewayService>(GATEWAY_NAME);
    const endpoint = await door.endpoint();
    const webSocket = await door.webSocketEndpoint();
    await node.spawn(robotMetrics(node), { name: ROBOT_METRICS_NAME }).catch((error: unknown) => {
      // Another node of the robot offers one already: that one serves.
      if (!(error instanceof NameTakenError || (error instanceof ChildStartError && error.cause instanceof NameTakenError))) throw error;
    });
    if (webSocket === null) return { event: 'listening', endpoint, line: `listening on ${endpoint}` };
    return { event: 'listening', endpoint, webSocket, line: `listening on ${endpoint} and ${webSocket}` };
  }, print, warn);
}

/** `qiact token`: a new random token, and the hash that goes in the gateway's configuration. */
export function printNewToken(options: { json?: boolean }, print: (line: string) => void): number {
  const { token, hash } = newToken();
  if (options.json) print(JSON.stringify({ token, hash }));
  else {
    print(`token  ${token}     (give it to the client; it is not stored anywhere)`);
    print(`hash   ${hash}     (put it in the gateway configuration's "tokens")`);
  }
  return 0;
}
