import { InvalidArgumentError, PermissionDeniedError } from '../../src/errors.js';

/** What a client does with a member of a service. */
export type Access = 'call' | 'watch' | 'get' | 'set';

/** The rules of one identity. Patterns are `service.member`, `*` standing for any run of characters. */
export interface IdentityRules {
  /** What it may use, e.g. `['battery.*', 'motion.walk']`. Nothing else: the default is deny. */
  readonly allow: readonly string[];
  /** What it may never use, even where `allow` matches. */
  readonly deny?: readonly string[];
  /** Only watch signals and read properties: no calls, posts or property writes. */
  readonly readOnly?: boolean;
}

/** Rules by identity: a token's name, or a client certificate's subject CN. */
export type PermissionTable = Readonly<Record<string, IdentityRules>>;

/** One pattern, split at its last dot (service names may hold dots, member names may not). */
interface Pattern {
  readonly service: RegExp;
  readonly member: RegExp;
}

interface Compiled {
  readonly allow: readonly Pattern[];
  readonly deny: readonly Pattern[];
  readonly readOnly: boolean;
}

/** A glob where only `*` is special. */
function glob(text: string): RegExp {
  return new RegExp(`^${text.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
}

function compile(pattern: unknown, where: string): Pattern {
  const dot = typeof pattern === 'string' && !/\s/.test(pattern) ? pattern.lastIndexOf('.') : -1;
  if (typeof pattern !== 'string' || dot <= 0 || dot === pattern.length - 1) {
    throw new InvalidArgumentError(where, `pattern ${JSON.stringify(pattern)} must be 'service.member' ('*' matches anything, e.g. 'battery.*')`);
  }
  return { service: glob(pattern.slice(0, dot)), member: glob(pattern.slice(dot + 1)) };
}

const matches = (p: Pattern, service: string, member: string): boolean => p.service.test(service) && p.member.test(member);

/**
 * Who may use what through the Gateway. Default deny: an identity without rules, a member no
 * `allow` pattern matches, one a `deny` pattern matches, a write by a read-only identity, and
 * any member of an internal-only service are refused with a PermissionDeniedError that names
 * the identity and what was refused.
 */
export class Permissions {
  readonly #rules = new Map<string, Compiled>();

  constructor(
    table: PermissionTable,
    /** Services never reachable from outside, whatever the rules say. */
    private readonly internal: ReadonlySet<string>,
  ) {
    if (typeof table !== 'object' || table === null) throw new InvalidArgumentError('permissions', 'must map identities to { allow, deny?, readOnly? }');
    for (const [identity, rules] of Object.entries(table)) {
      if (!Array.isArray(rules?.allow)) throw new InvalidArgumentError(`permissions.${identity}.allow`, 'must be a list of patterns');
      this.#rules.set(identity, {
        allow: rules.allow.map((p, i) => compile(p, `permissions.${identity}.allow[${i}]`)),
        deny: (rules.deny ?? []).map((p, i) => compile(p, `permissions.${identity}.deny[${i}]`)),
        readOnly: rules.readOnly === true,
      });
    }
  }

  /** Whether `identity` has rules at all (an XMPP link lets in only the JIDs it knows). */
  knows(identity: string): boolean {
    return this.#rules.has(identity);
  }

  allows(identity: string, service: string, member: string, access: Access): boolean {
    const rules = this.#rules.get(identity);
    if (rules === undefined || this.internal.has(service)) return false;
    if (rules.readOnly && (access === 'call' || access === 'set')) return false;
    return rules.allow.some((p) => matches(p, service, member)) && !rules.deny.some((p) => matches(p, service, member));
  }

  /** Throws PermissionDeniedError unless `identity` may do `access` on `service.member`. */
  check(identity: string, service: string, member: string, access: Access): void {
    if (!this.allows(identity, service, member, access)) {
      throw new PermissionDeniedError({ service, method: access === 'call' ? member : `${access} ${member}` }, identity);
    }
  }

  /** Whether any member of `service` could be allowed to `identity` (to list and describe it). */
  mayUse(identity: string, service: string): boolean {
    const rules = this.#rules.get(identity);
    if (rules === undefined || this.internal.has(service)) return false;
    // A service denied as a whole (`name.*`) is not shown at all.
    return rules.allow.some((p) => p.service.test(service)) && !rules.deny.some((p) => p.service.test(service) && p.member.source === '^.*$');
  }
}
