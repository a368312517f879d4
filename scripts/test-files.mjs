// Which compiled test files there are, and which of them the fast tier (`npm run test:unit`)
// runs. The rule reads the files themselves, so it holds wherever a file is moved:
// a *.test.js file is in the fast tier unless
//  - it lives under dist/test/attacks, faults, packaging or process (attacks and faults time
//    the service under stress; packaging needs the npm registry; process starts many servers),
//  - it, or a test module it imports (directly or through other test modules), imports the
//    Cassandra helpers (test/helpers/cassandra.ts, tools/cassandra/*): it needs a Cassandra node,
//  - or it has a line `// test-tier: full` (with the reason after it): slow, a Cassandra node
//    reached another way, or the network.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

export const FULL_ONLY_DIRS = ['attacks', 'faults', 'packaging', 'process'];
const MARKER = /^\s*\/\/ test-tier: full\b/m;
const CASSANDRA = [join('dist', 'test', 'helpers', 'cassandra.js'), join('dist', 'tools', 'cassandra') + sep];

const compiled = (dir) => (existsSync(dir) ? readdirSync(dir, { recursive: true }).map(String).sort() : []);

/** The compiled test files under `root` (absolute paths): { tests, attacks, faults, packages }. */
export function testFiles(root) {
  const dir = join(root, 'dist', 'test');
  const all = compiled(dir);
  const tests = all.filter((f) => f.endsWith('.test.js')).map((f) => join(dir, f));
  const isAttack = (f) => f.startsWith(join(dir, 'attacks') + sep);
  const { workspaces = [] } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const packages = workspaces.flatMap((ws) => {
    const testDir = join(root, ws, 'dist', 'test');
    return compiled(testDir)
      .filter((f) => f.endsWith('.test.js'))
      .map((f) => join(testDir, f));
  });
  return {
    tests: tests.filter((f) => !isAttack(f)),
    attacks: tests.filter(isAttack),
    faults: all.filter((f) => f.endsWith('.fault.js')).map((f) => join(dir, f)),
    packages,
  };
}

/** The relative imports of a compiled module (static `from '...'` and `import('...')` with a literal). */
function relativeImports(file) {
  const text = readFileSync(file, 'utf8');
  const specs = [...text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"](\.{1,2}\/[^'"]+)['"]/gm)].map((m) => m[1]);
  return specs.map((s) => resolve(dirname(file), s));
}

/** Why `file` is only in the whole suite (a string), or undefined if the fast tier runs it. */
export function fullOnlyReason(file, root) {
  const inTest = relative(join(root, 'dist', 'test'), file).split(sep);
  if (inTest.length > 1 && inTest[0] !== '..' && FULL_ONLY_DIRS.includes(inTest[0])) return `in ${inTest[0]}/`;
  const text = readFileSync(file, 'utf8');
  const marked = MARKER.exec(text);
  if (marked) return marked[0].trim();
  // The test modules it reaches (the product's own dist/src is left out: it never starts Cassandra).
  const seen = new Set();
  const queue = [file];
  while (queue.length > 0) {
    const f = queue.pop();
    if (seen.has(f)) continue;
    seen.add(f);
    const rel = relative(root, f);
    if (CASSANDRA.some((c) => rel === c || rel.startsWith(c))) return `imports ${rel.replace(/\.js$/, '')}`;
    if (/(^|\/)dist\/src\//.test(rel) || rel.includes('node_modules') || !f.endsWith('.js') || !existsSync(f)) continue;
    queue.push(...relativeImports(f));
  }
  return undefined;
}
