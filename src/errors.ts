/**
 * Every failure a user can act on has one class here, a stable `code`, and fields naming what
 * failed (service, method, address, limit). Callers branch on `instanceof` or on `code`.
 */

/** Stable error codes: part of the public contract and of the wire protocol. */
export const ErrorCode = {
  Timeout: 'TIMEOUT',
  NoSuchService: 'NO_SUCH_SERVICE',
  NoSuchMethod: 'NO_SUCH_METHOD',
  BadArguments: 'BAD_ARGUMENTS',
  Unreachable: 'UNREACHABLE',
  ReceiverStopped: 'RECEIVER_STOPPED',
  MailboxFull: 'MAILBOX_FULL',
  Cancelled: 'CANCELLED',
  PermissionDenied: 'PERMISSION_DENIED',
  ServiceError: 'SERVICE_ERROR',
  InvalidArgument: 'INVALID_ARGUMENT',
  InvalidAddress: 'INVALID_ADDRESS',
  InvalidChildSpec: 'INVALID_CHILD_SPEC',
  ChildStartFailed: 'CHILD_START_FAILED',
  NoSuchChild: 'NO_SUCH_CHILD',
  ChildRunning: 'CHILD_RUNNING',
  NameTaken: 'NAME_TAKEN',
  NodeStopped: 'NODE_STOPPED',
  RestartIntensity: 'RESTART_INTENSITY',
  BadFrame: 'BAD_FRAME',
  SlowPeer: 'SLOW_PEER',
  BadMessage: 'BAD_MESSAGE',
  HandshakeFailed: 'HANDSHAKE_FAILED',
  AuthenticationFailed: 'AUTHENTICATION_FAILED',
  LimitExceeded: 'LIMIT_EXCEEDED',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Base of every error qiact raises. */
export class QiactError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

/** Where a call was going: every call error carries it. */
export interface CallTarget {
  /** Service name, or the actor's address text when it has no name. */
  readonly service: string;
  readonly method: string;
  /** Canonical address text of the receiving actor, when known. */
  readonly address?: string | undefined;
}

function at(t: CallTarget): string {
  return `${t.service}.${t.method}${t.address ? ` (at ${t.address})` : ''}`;
}

export class CallTimeoutError extends QiactError {
  override readonly name = 'CallTimeoutError';
  constructor(
    readonly target: CallTarget,
    readonly timeoutMs: number,
  ) {
    super(ErrorCode.Timeout, `call to ${at(target)} timed out after ${timeoutMs} ms`);
  }
}

export class NoSuchServiceError extends QiactError {
  override readonly name = 'NoSuchServiceError';
  constructor(readonly service: string) {
    super(ErrorCode.NoSuchService, `no service named '${service}' is registered in the directory`);
  }
}

export class NoSuchMethodError extends QiactError {
  override readonly name = 'NoSuchMethodError';
  constructor(
    readonly target: CallTarget,
    readonly available: readonly string[],
  ) {
    super(
      ErrorCode.NoSuchMethod,
      `${target.service} has no method '${target.method}'` +
        (available.length ? ` (it has: ${available.join(', ')})` : ''),
    );
  }
}

export class BadArgumentsError extends QiactError {
  override readonly name = 'BadArgumentsError';
  /** The argument that is wrong (`args[0].level`), when it is one argument rather than the count. */
  readonly parameter: string | undefined;
  constructor(
    readonly target: CallTarget,
    readonly expected: string,
    readonly got: number,
    /** One argument is wrong: which, and how. */
    wrong?: { parameter: string; problem: string },
  ) {
    super(ErrorCode.BadArguments, wrong === undefined ? `${at(target)} expects ${expected} argument(s), got ${got}` : `${at(target)}: ${wrong.parameter} ${wrong.problem}`);
    this.parameter = wrong?.parameter;
  }
}

export class UnreachableError extends QiactError {
  override readonly name = 'UnreachableError';
  constructor(
    readonly address: string,
    /** Why, without the address (e.g. `cannot connect (...)`). */
    readonly reason: string,
    options?: ErrorOptions,
  ) {
    super(ErrorCode.Unreachable, `${address} is unreachable: ${reason}`, options);
  }
}

export class ReceiverStoppedError extends QiactError {
  override readonly name = 'ReceiverStoppedError';
  constructor(
    readonly target: CallTarget,
    /** Why the receiver stopped, as text ('normal', 'shutdown', 'killed' or the crash message). */
    readonly reason: string,
  ) {
    super(ErrorCode.ReceiverStopped, `${at(target)}: the receiver stopped (${reason}) before replying`);
  }
}

export class MailboxFullError extends QiactError {
  override readonly name = 'MailboxFullError';
  constructor(
    readonly target: CallTarget,
    readonly capacity: number,
  ) {
    super(ErrorCode.MailboxFull, `${at(target)}: mailbox full (capacity ${capacity}); message refused`);
  }
}

export class CancelledError extends QiactError {
  override readonly name = 'CancelledError';
  constructor(
    readonly target: CallTarget,
    options?: ErrorOptions,
  ) {
    super(ErrorCode.Cancelled, `call to ${at(target)} was cancelled by the caller`, options);
  }
}

export class PermissionDeniedError extends QiactError {
  override readonly name = 'PermissionDeniedError';
  constructor(
    readonly target: CallTarget,
    readonly identity: string,
    /** Why, when it is not the identity's rules (e.g. an undeclared method at a door). */
    why?: string,
  ) {
    super(ErrorCode.PermissionDenied, `${identity} may not use ${at(target)}${why ? `: ${why}` : ''}`);
  }
}

/**
 * The service's own error, carried to the caller: `remoteName` and `message` are the ones the
 * service threw, `data` any structured detail it attached. In the same thread the original
 * error is also kept as `cause`.
 */
export class ServiceError extends QiactError {
  override readonly name = 'ServiceError';
  /** The service crashed on this call (its supervisor restarts it); false for a deliberate Refusal. */
  readonly crashed: boolean;
  constructor(
    readonly target: CallTarget,
    readonly remoteName: string,
    readonly remoteMessage: string,
    readonly data?: unknown,
    options?: ErrorOptions & { crashed?: boolean },
  ) {
    super(ErrorCode.ServiceError, `${at(target)} failed: ${remoteName}: ${remoteMessage}`, options);
    this.crashed = options?.crashed ?? false;
  }
}

/** An option or argument given to the runtime itself is wrong (a timeout of 0, a bad name...). */
export class InvalidArgumentError extends QiactError {
  override readonly name = 'InvalidArgumentError';
  constructor(
    readonly argument: string,
    readonly reason: string,
  ) {
    super(ErrorCode.InvalidArgument, `invalid ${argument}: ${reason}`);
  }
}

export class InvalidAddressError extends QiactError {
  override readonly name = 'InvalidAddressError';
  constructor(
    readonly text: string,
    readonly reason: string,
  ) {
    super(ErrorCode.InvalidAddress, `invalid address '${text}': ${reason}`);
  }
}

/** A child spec was refused before anything started; `field` names the bad field. */
export class InvalidChildSpecError extends QiactError {
  override readonly name = 'InvalidChildSpecError';
  constructor(
    readonly childId: string,
    readonly field: string,
    readonly reason: string,
  ) {
    super(ErrorCode.InvalidChildSpec, `child spec '${childId}': field '${field}' ${reason}`);
  }
}

export class ChildStartError extends QiactError {
  override readonly name = 'ChildStartError';
  constructor(
    readonly supervisor: string,
    readonly childId: string,
    options?: ErrorOptions,
  ) {
    const why = options?.cause instanceof Error ? options.cause.message : String(options?.cause);
    super(ErrorCode.ChildStartFailed, `supervisor ${supervisor}: child '${childId}' failed to start: ${why}`, options);
  }
}

export class NoSuchChildError extends QiactError {
  override readonly name = 'NoSuchChildError';
  constructor(
    readonly supervisor: string,
    readonly childId: string,
  ) {
    super(ErrorCode.NoSuchChild, `supervisor ${supervisor} has no child '${childId}'`);
  }
}

/** A request that needs the child stopped (restartChild, deleteChild) found it running: OTP's `{error, running}`. */
export class ChildRunningError extends QiactError {
  override readonly name = 'ChildRunningError';
  constructor(
    readonly supervisor: string,
    readonly childId: string,
  ) {
    super(ErrorCode.ChildRunning, `supervisor ${supervisor}: child '${childId}' is running; terminate it first`);
  }
}

export class NameTakenError extends QiactError {
  override readonly name = 'NameTakenError';
  constructor(
    readonly service: string,
    readonly holder: string,
  ) {
    super(ErrorCode.NameTaken, `service name '${service}' is already registered (by ${holder})`);
  }
}

export class NodeStoppedError extends QiactError {
  override readonly name = 'NodeStoppedError';
  constructor(readonly node: string) {
    super(ErrorCode.NodeStopped, `node ${node} is stopped`);
  }
}

/**
 * Thrown by a service to refuse a call on purpose ("level must be 0..100"): the caller gets a
 * ServiceError with this name, message and data, and the service keeps running. Any other error
 * a service throws also reaches the caller, but crashes the service to its supervisor.
 */
export class Refusal extends Error {
  constructor(
    name: string,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
    this.name = name;
  }
}

/** The exit reason of a supervisor that gave up: more than `maxRestarts` restarts within `periodMs`. */
export class RestartIntensityError extends QiactError {
  override readonly name = 'RestartIntensityError';
  constructor(
    readonly supervisor: string,
    readonly maxRestarts: number,
    readonly periodMs: number,
    readonly lastChild: string,
  ) {
    super(
      ErrorCode.RestartIntensity,
      `supervisor ${supervisor} reached its restart intensity (more than ${maxRestarts} restarts in ${periodMs} ms; last: '${lastChild}') and shut down`,
    );
  }
}

/**
 * Bytes from a link that are not a valid frame: `reason` says which rule they broke (an
 * oversized or empty length, undecodable payload...). It closes that link only.
 */
export class BadFrameError extends QiactError {
  override readonly name = 'BadFrameError';
  constructor(
    readonly reason: 'too-large' | 'empty' | 'undecodable' | 'truncated' | 'slice',
    detail: string,
    /** The limit that was broken, in bytes, where there is one. */
    readonly limit?: number,
    options?: ErrorOptions,
  ) {
    super(ErrorCode.BadFrame, `bad frame (${reason}): ${detail}`, options);
  }
}

/** A peer that stopped reading: its link's write buffer passed the limit, so the link was closed. */
export class SlowPeerError extends QiactError {
  override readonly name = 'SlowPeerError';
  constructor(
    readonly peer: string,
    /** The write-buffer limit in bytes. */
    readonly limit: number,
  ) {
    super(ErrorCode.SlowPeer, `${peer} is not reading: more than ${limit} bytes wait to be written; link closed`);
  }
}

/** A decoded message that is not one the protocol knows: `field` names what was wrong. */
export class BadMessageError extends QiactError {
  override readonly name = 'BadMessageError';
  constructor(
    readonly kind: string,
    readonly field: string,
    reason: string,
  ) {
    super(ErrorCode.BadMessage, `bad '${kind}' message: ${field} ${reason}`);
  }
}

/** Two nodes could not agree to talk: the link is closed. */
export class HandshakeError extends QiactError {
  override readonly name = 'HandshakeError';
  constructor(
    readonly peer: string,
    /**
     * `secret`: the peer's proof does not match the robot's secret; `protocol`: a message out of
     * its turn (e.g. a proof before hello); `busy`: too many connections are still proving
     * themselves on that listener.
     */
    readonly reason: 'timeout' | 'version' | 'not-hello' | 'closed' | 'identity' | 'secret' | 'protocol' | 'busy',
    detail: string,
    options?: ErrorOptions,
  ) {
    super(ErrorCode.HandshakeFailed, `handshake with ${peer} failed (${reason}): ${detail}`, options);
  }
}

/** Why the Gateway refused a client at the door. */
export type AuthenticationReason = 'token' | 'certificate' | 'jid' | 'rate-limited' | 'timeout' | 'protocol' | 'crashes';

/**
 * The Gateway refused to let a client in: a wrong or missing token (`token`), a client
 * certificate that is expired, revoked or from another CA (`certificate`), an XMPP address with
 * no permissions (`jid`), too many failures from
 * that address (`rate-limited`), no authentication in time (`timeout`), or not speaking the
 * protocol (`protocol`).
 */
export class AuthenticationError extends QiactError {
  override readonly name = 'AuthenticationError';
  constructor(
    readonly reason: AuthenticationReason,
    /** What exactly, e.g. `unknown token`, `client certificate refused: CERT_HAS_EXPIRED`. */
    readonly detail: string,
  ) {
    super(ErrorCode.AuthenticationFailed, `authentication failed (${reason}): ${detail}`);
  }
}

/** A limit of the Gateway was reached: which one, and its value. */
export class LimitExceededError extends QiactError {
  override readonly name = 'LimitExceededError';
  constructor(
    /** e.g. `calls in flight`, `messages per second`, `connections`. */
    readonly limit: string,
    readonly value: number,
  ) {
    super(ErrorCode.LimitExceeded, `over the gateway's limit of ${value} ${limit}`);
  }
}
