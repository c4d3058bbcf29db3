/**
 * What may cross a door into the robot: plain data only, as JSON has it plus byte strings and
 * typed arrays (null, booleans, numbers, strings, `undefined`, Uint8Array, Float32Array and the
 * other typed arrays of RFC 8746, arrays, and maps with string keys). CBOR
 * decoders turn tags into richer objects (a RegExp for tag 27, Set, Map, Date, BigInt and more);
 * none of those reach a service from outside. Checked without recursion, with a depth bound, so
 * that a deeply nested value cannot overflow the stack.
 */
export const MAX_DEPTH = 64;

/** Null if `value` is plain data; else where the first value that is not is (`[0].a`), and what it is. */
export function notPlain(value: unknown): { path: string; problem: string } | null {
  const stack: { value: unknown; path: string; depth: number }[] = [{ value, path: '', depth: 0 }];
  while (stack.length > 0) {
    const { value: v, path, depth } = stack.pop()!;
    if (v === null || v === undefined || typeof v === 'boolean' || typeof v === 'string') continue;
    if (typeof v === 'number') continue;
    if (typeof v !== 'object') return { path, problem: `is a ${typeof v}` };
    if (ArrayBuffer.isView(v) && !(v instanceof DataView)) continue; // bytes, or a typed array (a laser scan)
    if (depth >= MAX_DEPTH) return { path, problem: `is nested deeper than ${MAX_DEPTH} levels` };
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) stack.push({ value: v[i], path: `${path}[${i}]`, depth: depth + 1 });
      continue;
    }
    const proto = Object.getPrototypeOf(v) as unknown;
    if (proto !== Object.prototype && proto !== null) return { path, problem: `is a ${(v as object).constructor?.name ?? 'non-plain object'}` };
    for (const key of Object.keys(v)) stack.push({ value: (v as Record<string, unknown>)[key], path: `${path}.${key}`, depth: depth + 1 });
  }
  return null;
}
