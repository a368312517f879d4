/**
 * `firkin store reset`: move a store's data file aside, so that the next start begins
 * with an empty store. Never deletes: the file keeps its name with a suffix and the
 * time (UTC), in the same directory (mode 0700, the file 0600: it still holds sessions),
 * for a later look or a restore. The caller holds the directory's instance lock
 * (instance-lock.ts): no server is using the file.
 */
import { existsSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DATA_FILE } from './files.js';

/** `20261204T124500Z`: the time in a file name, without characters some tools dislike. */
export function fileTime(date = new Date()): string {
  return date.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

/**
 * Rename `<dir>/firkin.mdb` to `<dir>/firkin.mdb.<label>-<UTC time>` (`-2`, `-3`… if taken).
 * Returns the new path and the file's size; undefined when there is no data file.
 */
export function setAside(dir: string, label: 'damaged' | 'reset', date = new Date()): { readonly to: string; readonly bytes: number } | undefined {
  const file = join(dir, DATA_FILE);
  if (!existsSync(file)) return undefined;
  const bytes = statSync(file).size;
  const base = `${file}.${label}-${fileTime(date)}`;
  let to = base;
  for (let n = 2; existsSync(to); n++) to = `${base}-${n}`;
  renameSync(file, to);
  return { to, bytes };
}
