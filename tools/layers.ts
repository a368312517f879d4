/**
 * The import graph of src/, drawn from the imports themselves (as TypeScript reads
 * them: `import`, `import type`, `export … from` and dynamic `import()`), checked against
 * the layers the code is meant to have: every module may import modules of its own
 * folder and of folders in a lower layer, never a higher one, and no chain of imports
 * may lead back to where it started. test/layout.test.ts holds src/ to it;
 * `node dist/tools/layers.js [SRC_DIR]` prints the graph's circles and upward imports.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/**
 * The layers, lowest first: a request travels from the top (transport) down to
 * storage; logging sits low (everyone logs) and metrics high (only the assembly
 * wires them in, through the hooks each layer declares). The files at the root of
 * src/ assemble everything.
 */
export const LAYERS: readonly (readonly string[])[] = [
  ['base'], // shared vocabulary: errors, identities, the request context, internals of dependencies
  ['config'], // the config file → FirkinConfig
  ['log'], // JSON logs, syslog, key hashes
  ['storage', 'insight'], // the storage interface and engines; the write-pattern sketch
  ['namespace', 'access', 'seal'], // a namespace's policy over its store; who may do what; sealing a namespace's keys and values
  ['api'], // HTTP semantics: routes, answers, endpoints
  ['transport'], // node:http, connections, TLS, writing answers
  ['metrics'], // Prometheus, wired in at assembly
  ['.'], // service.ts, cli.ts, cluster.ts: the assembly
];

export interface Graph {
  /** Module (path relative to src, e.g. `api/handler.ts`) → the modules it imports. */
  readonly edges: ReadonlyMap<string, readonly string[]>;
}

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return tsFiles(path);
    return name.endsWith('.ts') && !name.endsWith('.d.ts') ? [path] : [];
  });
}

/** The graph of the TypeScript modules under `src`. */
export function importGraph(src: string): Graph {
  const edges = new Map<string, string[]>();
  for (const file of tsFiles(src)) {
    // TypeScript's own reading of a file's imports: `import`, `import type`, `export … from`, `import()`.
    const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    const targets: string[] = [];
    for (const { fileName: spec } of importedFiles) {
      if (!spec.startsWith('.')) continue; // a package or node: built-in
      targets.push(relative(src, resolve(dirname(file), spec.replace(/\.js$/, '.ts'))));
    }
    edges.set(relative(src, file), [...new Set(targets)].sort());
  }
  return { edges };
}

/** The folder a module belongs to: its first path segment, or `.` at the root. */
export function folderOf(module: string): string {
  const slash = module.indexOf('/');
  return slash === -1 ? '.' : module.slice(0, slash);
}

/** The layer of a folder (its index in LAYERS); undefined for a folder no layer names. */
export function layerOf(folder: string, layers = LAYERS): number | undefined {
  const i = layers.findIndex((l) => l.includes(folder));
  return i === -1 ? undefined : i;
}

/** Imports that leave their folder for one of the same or a higher layer (or a folder in no layer). */
export function upwardImports(graph: Graph, layers = LAYERS): { from: string; to: string }[] {
  const found: { from: string; to: string }[] = [];
  for (const [from, targets] of graph.edges) {
    for (const to of targets) {
      const a = folderOf(from);
      const b = folderOf(to);
      if (a === b) continue;
      const la = layerOf(a, layers);
      const lb = layerOf(b, layers);
      if (la === undefined || lb === undefined || lb >= la) found.push({ from, to });
    }
  }
  return found;
}

/** The circles of the graph: each strongly connected set of more than one module (or a module importing itself), sorted. */
export function circles(graph: Graph): string[][] {
  let index = 0;
  const indices = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    indices.set(v, index);
    low.set(v, index);
    index++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.edges.get(v) ?? []) {
      if (!indices.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, indices.get(w)!));
      }
    }
    if (low.get(v) === indices.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (graph.edges.get(v) ?? []).includes(v)) found.push(component.sort());
    }
  };
  for (const v of [...graph.edges.keys()].sort()) if (!indices.has(v)) visit(v);
  return found.sort((a, b) => a[0]!.localeCompare(b[0]!));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const src = resolve(process.argv[2] ?? fileURLToPath(new URL('../../src', import.meta.url)));
  const graph = importGraph(src);
  const c = circles(graph);
  const up = upwardImports(graph);
  console.log(`${graph.edges.size} modules, ${[...graph.edges.values()].reduce((n, t) => n + t.length, 0)} imports`);
  console.log(`circles: ${c.length}`);
  for (const circle of c) console.log(`  ${circle.join(' ↔ ')}`);
  console.log(`upward imports: ${up.length}`);
  for (const { from, to } of up) console.log(`  ${from} → ${to}`);
}
