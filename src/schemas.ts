import type { TSchema } from 'typebox';
import Value from 'typebox/value';

/** A JSON Schema as it crosses the wire: plain data (TypeBox's schemas are JSON Schema already). */
export type JsonSchema = Readonly<Record<string, unknown>>;

/**
 * What a service declares of its members, with TypeBox (`import Type from 'typebox'`): the
 * parameters of its methods (and their result), the types of its signals and properties. They are
 * JSON Schema, shown by `@describe` and `qiact info` to clients in any language, and the doors
 * (Gateway, XMPP link) check every argument from outside against them. `Static<typeof S>` gives
 * the TypeScript type of a schema `S`.
 *
 * ```ts
 * const Percent = Type.Number({ minimum: 1, maximum: 100 });
 * class Battery extends Service {
 *   static override schemas = { methods: { drain: { params: [Percent], result: Type.Number() } } } satisfies ServiceSchemas;
 *   drain(percent: Static<typeof Percent>): number { … }
 * }
 * ```
 */
export interface ServiceSchemas {
  readonly methods?: Readonly<Record<string, { readonly params: readonly TSchema[]; readonly result?: TSchema }>>;
  readonly signals?: Readonly<Record<string, TSchema>>;
  readonly properties?: Readonly<Record<string, TSchema>>;
}

/** A schema as plain JSON Schema (TypeBox's own symbols left behind). */
export function jsonSchema(schema: TSchema): JsonSchema {
  return JSON.parse(JSON.stringify(schema)) as JsonSchema;
}

/**
 * The first argument in `args` that does not match `params`, with where exactly and why; null if
 * all do. An argument left out is checked as `undefined` (so an optional one must say so).
 */
export function wrongArgument(params: readonly JsonSchema[], args: readonly unknown[], name: (i: number) => string = (i) => `args[${i}]`): { parameter: string; problem: string } | null {
  if (args.length > params.length) return { parameter: name(params.length), problem: `is one too many: the method takes ${params.length} argument(s)` };
  for (let i = 0; i < params.length; i++) {
    const schema = params[i]!;
    if (Value.Check(schema, args[i])) continue;
    const [first] = Value.Errors(schema, args[i]);
    const at = first?.instancePath ? first.instancePath.replace(/\/([^/]+)/g, (_, key: string) => (/^\d+$/.test(key) ? `[${key}]` : `.${key}`)) : '';
    return { parameter: `${name(i)}${at}`, problem: first?.message ?? 'does not match its schema' };
  }
  return null;
}
