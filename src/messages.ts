import { BadMessageError, type ErrorCode } from './errors.js';

/** The wire protocol version; peers with another version are refused at the handshake. */
export const PROTOCOL_VERSION = 2;

type FieldType = 'uint' | 'string' | 'bytes' | 'array' | 'object' | 'any';

/**
 * Every message kind that crosses a link, with its fields. The message types below are derived
 * from this one table, and so is the guard: adding a kind is adding a row. (Addresses are
 * canonical address text; `id` numbers a call per link, `sub` a subscription, `ref` a monitor.)
 */
export const MESSAGE_FIELDS = {
  hello: { version: 'uint', nonce: 'bytes' },
  proof: { machineId: 'string', processId: 'uint', threadId: 'uint', mac: 'bytes' },
  call: { id: 'uint', to: 'string', from: 'string', method: 'string', args: 'array', timeout: 'uint' },
  reply: { id: 'uint', value: 'any' },
  fail: { id: 'uint', error: 'object' },
  post: { to: 'string', from: 'string', method: 'string', args: 'array' },
  subscribe: { id: 'uint', to: 'string', from: 'string', member: 'string', sub: 'uint' },
  unsubscribe: { to: 'string', sub: 'uint' },
  signal: { sub: 'uint', value: 'any' },
  ended: { sub: 'uint', reason: 'string' },
  monitor: { ref: 'uint', target: 'string', from: 'string' },
  demonitor: { ref: 'uint', target: 'string' },
  down: { ref: 'uint', target: 'string', reason: 'string' },
  link: { target: 'string', from: 'string' },
} as const satisfies Record<string, Record<string, FieldType>>;

export type Kind = keyof typeof MESSAGE_FIELDS;

type TypeOf<F> = F extends 'uint' ? number : F extends 'string' ? string : F extends 'bytes' ? Uint8Array : F extends 'array' ? unknown[] : F extends 'object' ? Record<string, unknown> : unknown;

/** One wire message of kind K. */
export type MessageOf<K extends Kind> = { readonly kind: K } & { readonly [F in keyof (typeof MESSAGE_FIELDS)[K]]: TypeOf<(typeof MESSAGE_FIELDS)[K][F]> };
export type Message = { [K in Kind]: MessageOf<K> }[Kind];

/** True if `value` is a valid `slices` offer (in hello, auth, welcome): a whole number above 0. */
export function isSlicesOffer(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) > 0;
}

/**
 * What a message must stay in order with, for a link that lets small messages pass a large one
 * being sent in slices (socket-link.ts): as everywhere in qiact, the messages from one actor to
 * another keep their order, so the key is the pair, sender then receiver. Calls, posts,
 * subscriptions, monitors and links name both (`from`, and `to` or `target`); a reply, a fail,
 * a signal value or an `ended` names neither, and the sender says whose they are (`sender`: the
 * service, `receiver`: the caller or subscriber). A message whose pair is not known keeps its
 * place behind everything (`*`).
 */
export function orderKeyOf(message: unknown, sender?: string, receiver?: string): string {
  const m = message as { from?: unknown; to?: unknown; target?: unknown };
  const from = sender ?? m.from;
  const to = receiver ?? m.to ?? m.target;
  return typeof from === 'string' && typeof to === 'string' ? `${from}>${to}` : '*';
}

/** How an error travels in a `fail` message: enough to rebuild the typed error on the far side. */
export interface WireError {
  readonly code: ErrorCode;
  readonly name: string;
  readonly message: string;
  readonly data?: unknown;
  /** With SERVICE_ERROR: the service crashed on the call (rather than refused it). */
  readonly crashed?: boolean;
}

const CHECKS: Record<FieldType, (v: unknown) => boolean> = {
  uint: (v) => Number.isSafeInteger(v) && (v as number) >= 0,
  string: (v) => typeof v === 'string',
  bytes: (v) => v instanceof Uint8Array,
  array: (v) => Array.isArray(v),
  object: (v) => typeof v === 'object' && v !== null && !Array.isArray(v),
  any: () => true,
};

const DESCRIBED: Record<FieldType, string> = { uint: 'a whole number >= 0', string: 'a string', bytes: 'a byte string', array: 'an array', object: 'a map', any: 'anything' };

/** A guard for a message table: checks a decoded value is one of its kinds, field by field. */
function makeParser<T>(table: Record<string, Record<string, FieldType>>): (value: unknown) => T {
  // The checks of each kind, flattened once: parsing runs on every message that crosses a link.
  const checked = new Map<string, readonly (readonly [string, FieldType])[]>(
    Object.entries(table).map(([kind, fields]) => [kind, Object.entries(fields).filter(([, type]) => type !== 'any')]),
  );
  const known = Object.keys(table).join(', ');
  return (value) => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new BadMessageError('?', 'the message', 'must be a map');
    const kind = (value as { kind?: unknown }).kind;
    const checks = typeof kind === 'string' ? checked.get(kind) : undefined;
    if (checks === undefined) throw new BadMessageError(String(kind), 'kind', `is unknown (known: ${known})`);
    for (let i = 0; i < checks.length; i++) {
      const [field, type] = checks[i]!;
      if (!CHECKS[type]((value as Record<string, unknown>)[field])) throw new BadMessageError(kind as string, field, `must be ${DESCRIBED[type]}`);
    }
    return value as T;
  };
}

/** Checks a decoded value is a protocol message; throws BadMessageError naming the kind and field. */
export const parseMessage: (value: unknown) => Message = makeParser(MESSAGE_FIELDS);

/**
 * The version of the Gateway's protocol (`auth` and `welcome` carry it), which moves apart from
 * the node protocol's: the nodes' handshake changed in version 2, the doors' did not.
 */
export const GATEWAY_PROTOCOL_VERSION = 1;

/**
 * The messages between an outside client and the Gateway. The client authenticates first
 * (`auth`, answered by `welcome` or `denied`); then it calls, posts and subscribes by service
 * *name* (`to`), never by address: nothing of the robot's inside is shown to it.
 */
export const GATEWAY_FIELDS = {
  auth: { version: 'uint', token: 'any' },
  welcome: { version: 'uint', identity: 'string' },
  denied: { reason: 'string', message: 'string' },
  call: MESSAGE_FIELDS.call,
  reply: MESSAGE_FIELDS.reply,
  fail: MESSAGE_FIELDS.fail,
  post: MESSAGE_FIELDS.post,
  subscribe: MESSAGE_FIELDS.subscribe,
  unsubscribe: MESSAGE_FIELDS.unsubscribe,
  signal: MESSAGE_FIELDS.signal,
  ended: MESSAGE_FIELDS.ended,
} as const satisfies Record<string, Record<string, FieldType>>;

export type GatewayKind = keyof typeof GATEWAY_FIELDS;
export type GatewayMessageOf<K extends GatewayKind> = { readonly kind: K } & { readonly [F in keyof (typeof GATEWAY_FIELDS)[K]]: TypeOf<(typeof GATEWAY_FIELDS)[K][F]> };
export type GatewayMessage = { [K in GatewayKind]: GatewayMessageOf<K> }[GatewayKind];

export const parseGatewayMessage: (value: unknown) => GatewayMessage = makeParser(GATEWAY_FIELDS);

/** One short line for logs: kind and its identifying fields, never the arguments. */
export function describe(m: Message): string {
  switch (m.kind) {
    case 'hello':
      return `hello v${m.version}`;
    case 'proof':
      return `proof from ${m.machineId}/${m.processId}/${m.threadId}`;
    case 'call':
      return `call #${m.id} ${m.method} to ${m.to}`;
    case 'post':
      return `post ${m.method} to ${m.to}`;
    case 'reply':
    case 'fail':
      return `${m.kind} #${m.id}`;
    case 'subscribe':
      return `subscribe #${m.id} ${m.member} of ${m.to}`;
    case 'link':
      return `link ${m.from} with ${m.target}`;
    case 'unsubscribe':
    case 'signal':
    case 'ended':
      return `${m.kind} sub ${m.sub}`;
    default:
      return `${m.kind} ref ${m.ref} on ${m.target}`;
  }
}
