import test from 'ava';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

// The rule under the README's Layout: the runtime (src/) stands alone; the system
// actors (actors/) are built on it as any service is; only the composition roots wire them in,
// and the applications on top (the CLI, the inspector page) use them as any client would.
const ROOT = join(import.meta.dirname, '..');
const COMPOSITION_ROOTS = ['src/index.ts', 'src/start.ts'];
const isCompositionRoot = (file: string): boolean => COMPOSITION_ROOTS.includes(file) || file.startsWith('src/cli/') || file.startsWith('src/inspect/page/');

interface Edge {
  readonly to: string;
  /** Erased at build time (`import type`, or every name imported is a type). */
  readonly typeOnly: boolean;
}

function sources(folder: string): string[] {
  return readdirSync(join(ROOT, folder), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => join(folder, f));
}

function importsOf(file: string): Edge[] {
  const source = ts.createSourceFile(file, readFileSync(join(ROOT, file), 'utf8'), ts.ScriptTarget.ES2022);
  const edges: Edge[] = [];
  for (const statement of source.statements) {
    if (!(ts.isImportDeclaration(statement) || ts.isExportDeclaration(statement)) || statement.moduleSpecifier === undefined) continue;
    const specifier = (statement.moduleSpecifier as ts.StringLiteral).text;
    if (!specifier.startsWith('.')) continue;
    const to = relative(ROOT, resolve(ROOT, dirname(file), specifier.replace(/\.js$/, '.ts')));
    // Modules only (the page also imports its style sheets).
    if (!to.endsWith('.ts') || !existsSync(join(ROOT, to))) continue;
    edges.push({ to, typeOnly: isTypeOnly(statement) });
  }
  return edges;
}

function isTypeOnly(statement: ts.ImportDeclaration | ts.ExportDeclaration): boolean {
  if (ts.isExportDeclaration(statement)) {
    return statement.isTypeOnly || (statement.exportClause !== undefined && ts.isNamedExports(statement.exportClause) && statement.exportClause.elements.every((e) => e.isTypeOnly));
  }
  const clause = statement.importClause;
  if (clause === undefined) return false; // import './x.js' runs the module
  if (clause.isTypeOnly) return true;
  if (clause.name !== undefined) return false;
  const bindings = clause.namedBindings;
  return bindings !== undefined && ts.isNamedImports(bindings) && bindings.elements.every((e) => e.isTypeOnly);
}

const graph = new Map<string, Edge[]>([...sources('src'), ...sources('actors')].map((f) => [f, importsOf(f)]));

/** Strongly connected groups of more than one file (Tarjan), following the edges `follow` keeps. */
function cycles(follow: (edge: Edge) => boolean): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const edge of graph.get(v)!.filter(follow)) {
      if (!index.has(edge.to)) {
        visit(edge.to);
        low.set(v, Math.min(low.get(v)!, low.get(edge.to)!));
      } else if (onStack.has(edge.to)) low.set(v, Math.min(low.get(v)!, index.get(edge.to)!));
    }
    if (low.get(v) === index.get(v)) {
      const group: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        group.push(w);
      } while (w !== v);
      if (group.length > 1) found.push(group.sort());
    }
  };
  for (const file of graph.keys()) if (!index.has(file)) visit(file);
  return found;
}

test('the runtime in src/ never imports the system actors, except where it is composed', (t) => {
  const wrong = [...graph]
    .filter(([file]) => file.startsWith('src/') && !isCompositionRoot(file))
    .flatMap(([file, edges]) => edges.filter((e) => e.to.startsWith('actors/')).map((e) => `${file} -> ${e.to}`));
  t.deepEqual(wrong, []);
});

test('no module is part of an import cycle that runs code', (t) => {
  t.deepEqual(cycles((e) => !e.typeOnly), []);
});

test('no import cycle, even of types, reaches beyond a pair of files that describe each other', (t) => {
  // Two pairs name each other's types (an actor and its behaviour; an envelope and the list of
  // deadlines it sits in); anything larger is a layer pointing the wrong way.
  t.deepEqual(
    cycles(() => true).filter((group) => group.length > 2),
    [],
  );
});
