/**
 * The Go load generator (benchmarks/loadgen, standard library only), built into the
 * cache outside the work tree, once per version of its sources (so checkouts sharing
 * the cache never overwrite each other's binary). Used by `npm run bench` and the soak.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SOURCE = fileURLToPath(new URL('../../benchmarks/loadgen', import.meta.url));

let binary: string | undefined;

/** The path of the built load generator (building it if this version is not yet built). */
export function loadgenBinary(): string {
  if (binary === undefined) {
    const hash = createHash('sha256');
    for (const f of readdirSync(SOURCE).sort()) hash.update(f).update(readFileSync(join(SOURCE, f)));
    const dir = join(process.env.FIRKIN_CACHE ?? join(homedir(), '.cache', 'firkin'), 'loadgen');
    mkdirSync(dir, { recursive: true });
    binary = join(dir, `loadgen-${hash.digest('hex').slice(0, 12)}`);
    if (!existsSync(binary)) execFileSync('go', ['build', '-o', binary, '.'], { cwd: SOURCE, stdio: ['ignore', 'inherit', 'inherit'] });
  }
  return binary;
}
