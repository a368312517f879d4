/**
 * The embedded store's directory and files (`embedded.path`): names and modes. Kept
 * apart from the engine so that what only needs these (the instance lock, the probe's
 * first step, the primary process) does not load lmdb, which allocates 16 MiB when
 * imported.
 */
import { chmodSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** The data file inside `embedded.path` (LMDB's lock file is `firkin.mdb-lock`). */
export const DATA_FILE = 'firkin.mdb';

/**
 * Give `path` exactly `mode`, unless it has it already. Throws a clear error when
 * that is not allowed (the path belongs to another user).
 */
export function restrictMode(path: string, mode: number): void {
  if ((statSync(path).mode & 0o777) === mode) return;
  try {
    chmodSync(path, mode);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new Error(
      `cannot set mode ${mode.toString(8).padStart(4, '0')} on ${path} (${code}): the embedded store's directory and files must belong to the user running Firkin`,
      { cause: err },
    );
  }
}

/**
 * Create `path` if missing (mode 0700) and keep it at 0700; refuse a shared directory
 * (sticky bit, such as /tmp), which must never be chmodded. Returns the data file's path.
 */
export function prepareDirectory(path: string): string {
  mkdirSync(path, { recursive: true, mode: 0o700 });
  if (statSync(path).mode & 0o1000) {
    // Never chmod a shared directory such as /tmp.
    throw new Error(`${path} is a shared directory (sticky bit set): give embedded.path a directory of Firkin's own`);
  }
  restrictMode(path, 0o700);
  return join(path, DATA_FILE);
}

