/** qiact's public API. Everything else is internal. */
export { Node } from './node.js';
export { start } from './start.js';
export { Service } from './service.js';
/** TypeBox's type builder, for `static schemas` (the JSON Schemas a door checks arguments against). */
export { default as Type } from 'typebox';
export { Signal, Property } from './signal.js';
export { fromMachine } from './machine-behaviour.js';
export { supervisor } from './supervision/child-spec.js';
export { Address } from './address.js';
export { machineId } from './machine-id.js';
export { ManualClock, systemClock } from './clock.js';
export { IGNORE } from './behaviour.js';
export { LinkedExitError } from './actor.js';
export { routeOf, describeOf } from './remote.js';
export { transfer } from './transfer.js';
export { release } from './release.js';
export { RemoteExitError } from './routing/peer.js';
export { ChildExitError } from './placement/placed-child.js';
export { DIRECTORY_NAME } from './directory/entries.js';
export { ServiceDirectory } from '../actors/directory/directory.js';
export { gateway, GatewayService, DEFAULT_GATEWAY_PORT } from '../actors/gateway/gateway.js';
export { hashToken, newToken } from '../actors/gateway/tokens.js';
export { connect } from './client/gateway-client.js';
export { xmppLink, XmppLinkService } from '../actors/xmpp/xmpp-link.js';
export { robotMetrics, ROBOT_METRICS_NAME } from '../actors/metrics/robot-metrics.js';
export type { RobotMetricsService } from '../actors/metrics/robot-metrics.js';
export { robots } from './client/robots.js';
export {
  ErrorCode,
  QiactError,
  CallTimeoutError,
  NoSuchServiceError,
  NoSuchMethodError,
  BadArgumentsError,
  UnreachableError,
  ReceiverStoppedError,
  MailboxFullError,
  CancelledError,
  PermissionDeniedError,
  ServiceError,
  InvalidArgumentError,
  InvalidAddressError,
  InvalidChildSpecError,
  ChildStartError,
  NoSuchChildError,
  ChildRunningError,
  NameTakenError,
  NodeStoppedError,
  RestartIntensityError,
  Refusal,
  BadFrameError,
  BadMessageError,
  SlowPeerError,
  HandshakeError,
  AuthenticationError,
  LimitExceededError,
} from './errors.js';

export type { StartOptions, SpawnOptions, ActorRef, SupervisorRef, NodeInfo } from './node.js';
export type { TreeDown } from './node-core.js';
export type { NodeMetrics, ActorMetrics, LinkMetrics, UnlistedActors } from './observe/metrics.js';
export { MAX_LISTED_ACTORS } from './observe/metrics.js';
export type { HistogramData } from './observe/histogram.js';
export { BUCKET_BOUNDS_US, quantile } from './observe/histogram.js';
export type { ActorId, Locality } from './address.js';
export type { Clock } from './clock.js';
export type { ExitReason, Down } from './actor.js';
export type { Behaviour, BehaviourFactory, ServiceDescription, MethodDescription } from './behaviour.js';
export type { ServiceContext, ServiceClass } from './service.js';
export type { ServiceSchemas, JsonSchema } from './schemas.js';
export type { Static, TSchema } from 'typebox';
export type { Caller } from './caller.js';
export type { Remote, RemoteMethod, RemoteSignal, RemoteProperty, CallOptions, Subscription } from './remote.js';
export type { MachineRemote, MachineServiceOptions } from './machine-behaviour.js';
export type { MailboxOptions, OverflowPolicy } from './mailbox.js';
export type { ChildSpec, SupervisorSpec, Strategy, RestartType, ShutdownPolicy, Placement, Startable } from './supervision/child-spec.js';
export type { ChildInfo, TreeNode, Subtree } from './supervision/supervisor.js';
export { MAX_TREE_WORKERS } from './supervision/supervisor.js';
export type { ServiceInfo, ServiceEvent } from './directory/entries.js';
export type { CallTarget, AuthenticationReason } from './errors.js';
export type { Route } from './remote.js';
export type { Path } from './address.js';
export type { GatewayOptions } from '../actors/gateway/gateway.js';
export type { GatewayLimits } from '../actors/gateway/session.js';
export type { PermissionTable, IdentityRules, Access } from '../actors/gateway/permissions.js';
export type { ConnectOptions, Session } from './client/gateway-client.js';
export type { XmppLinkOptions } from '../actors/xmpp/xmpp-link.js';
export type { RobotPresence } from './client/xmpp-types.js';
