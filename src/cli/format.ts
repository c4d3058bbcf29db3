import type { ServiceInfo } from '../directory/entries.js';
import type { ServiceDescription } from '../behaviour.js';
import type { TreeNode } from '../supervision/supervisor.js';

/** Prints a supervision tree, one child a line, with where each child lives. */
export function formatTree(node: TreeNode, indent = ''): string[] {
  const what = node.type === 'supervisor' ? node.label : `${node.label}${node.name ? ` as '${node.name}'` : ''}`;
  const where = node.address ? `@ ${node.address}` : '(not running)';
  const placed = node.in !== 'thread' ? ` in a ${node.in}` : '';
  const restarts = node.restarts ? `, restarted ${node.restarts}x` : '';
  const lines = [`${indent}${node.id}: ${what} ${where}${placed}${restarts}`];
  for (const child of node.children ?? []) lines.push(...formatTree(child, `${indent}  `));
  if (node.childCount !== undefined) lines.push(`${indent}  … ${node.childCount - (node.children?.length ?? 0)} more children (${node.childCount} in all)`);
  return lines;
}

/** Rows of text as aligned columns. */
export function columns(rows: readonly (readonly string[])[]): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  '));
}

/** A service as listed: everything from inside the robot, its name alone through the gateway. */
type Listed = Pick<ServiceInfo, 'name'> & Partial<ServiceInfo>;

export function formatServices(services: readonly Listed[]): string[] {
  if (services.every((s) => s.serviceId === undefined)) return ['NAME', ...services.map((s) => s.name)];
  const rows = [['ID', 'NAME', 'MACHINE', 'PROCESS', 'ENDPOINTS']];
  for (const s of services) rows.push([String(s.serviceId), s.name, s.machineId ?? '-', String(s.processId ?? '-'), s.endpoints?.join(' ') || '-']);
  return columns(rows);
}

export function formatInfo(info: Listed, description: ServiceDescription): string[] {
  const lines =
    info.serviceId === undefined
      ? [info.name, '  methods']
      : [
          `${info.name} (#${info.serviceId})`,
          `  address    ${info.address}`,
          `  machine    ${info.machineId}, process ${info.processId}`,
          `  endpoints  ${info.endpoints?.join(' ') || '-'}`,
          '  methods',
        ];
  for (const m of description.methods) {
    lines.push(`    ${m.signature !== undefined ? `${m.name}${m.signature}` : `${m.name}(${m.params.join(', ')})`}`);
    // The declared JSON Schemas, one per parameter: what a door checks arguments against.
    m.schema?.params.forEach((schema, i) => lines.push(`      ${m.params[i] ?? `arg${i}`}: ${formatValue(schema)}`));
    if (m.schema?.result !== undefined) lines.push(`      → ${formatValue(m.schema.result)}`);
  }
  const typed = (names: readonly string[], schemas: Readonly<Record<string, unknown>> | undefined): string =>
    names.map((n) => (schemas?.[n] !== undefined ? `${n}: ${formatValue(schemas[n])}` : n)).join(', ') || '-';
  lines.push(`  signals    ${typed(description.signals, description.schemas?.signals)}`);
  lines.push(`  properties ${typed(description.properties, description.schemas?.properties)}`);
  return lines;
}

/** A value as one line: JSON where it can be, with bytes and maps readable. */
export function formatValue(value: unknown): string {
  if (value === undefined) return 'undefined';
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v instanceof Uint8Array) return `<${v.length} bytes>`;
    if (v instanceof Map) return Object.fromEntries(v);
    if (typeof v === 'bigint') return v.toString();
    return v;
  });
}
