/**
 * The start-up probe's child process (probe.ts): `node probe-child.js edges|deep DIR`.
 * Opens the embedded store in DIR read-only, reads its format marker, then walks to the
 * first and last entry of every database (`edges`) or reads and checks every record
 * (`deep`), and prints one JSON line (probe.ts's ChildReport). If LMDB crashes on a
 * damaged page, this process dies of the signal, and the parent says so.
 */
import { lmdbCode } from '../../base/internals.js';
import type { ChildReport } from './probe.js';
import { EmbeddedEngine } from './lmdb-engine.js';

const [mode, dir] = process.argv.slice(2);
let report: ChildReport;
try {
  if (dir === undefined || (mode !== 'edges' && mode !== 'deep')) throw new Error('usage: probe-child.js edges|deep DIR');
  const engine = new EmbeddedEngine({ path: dir, readOnly: true });
  const namespaces = engine.walkEdges();
  report = {
    ok: true,
    format: engine.format,
    legacy: engine.legacy,
    namespaces,
    ...(mode === 'deep' ? { checks: engine.verifyAll() } : {}),
  };
  await engine.close();
} catch (err) {
  report = { ok: false, code: lmdbCode(err), message: (err as Error).message };
}
process.stdout.write(`${JSON.stringify(report)}\n`);
process.exitCode = report.ok ? 0 : 2;
