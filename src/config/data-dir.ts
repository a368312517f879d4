/**
 * Whether this user can keep the embedded store where the config puts it: `embedded.path`
 * must be a directory this user can write (and enter), or, when it does not exist yet,
 * one this user can create (its nearest existing parent writable); the store's files
 * already there must be readable and writable. `firkin check-config` and `firkin serve`
 * check it before anything starts, so a directory the service cannot use is one line
 * naming the key, the directory and why (exit 2), not a failure at the first write.
 *
 * Checked with access(2), as the running user: root passes any mode, but not a
 * read-only filesystem (EROFS: a path outside a ProtectSystem=strict unit's
 * StateDirectory=, for one).
 */
import { accessSync, constants, statSync } from 'node:fs';
import { userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { ConfigError } from '../base/config-error.js';
import type { FirkinConfig } from './types.js';

/** The files of a store (storage/embedded): the data, LMDB's lock file, the instance lock. */
const STORE_FILES = ['firkin.mdb', 'firkin.mdb-lock', 'firkin.lock'];

/** Throw a ConfigError (key embedded.path) if this user cannot keep the embedded store at its path. */
export function checkDataDir(config: FirkinConfig): void {
  if (config.storage !== 'embedded') return;
  const dir = config.embedded.path;
  const refuse = (problem: string, target = dir): never => {
    throw new ConfigError(config.file, 'embedded.path', problem, target);
  };
  // The directory, or its nearest existing parent (the one that must let us create the rest).
  let existing = dir;
  for (;;) {
    const kind = statKind(existing);
    if (kind === 'directory') break;
    if (kind !== 'missing') {
      refuse(existing === dir ? 'is not a directory' : `cannot be created: ${existing} is not a directory`);
    }
    const parent = dirname(existing);
    if (parent === existing) refuse('cannot be created: no part of the path exists');
    existing = parent;
  }
  const problem = access(existing, constants.W_OK | constants.X_OK);
  if (problem !== undefined) {
    refuse(
      existing === dir
        ? `is not writable by this user (${whoAmI()}): ${problem}; give it to this user (chown), or point embedded.path at a directory it can write`
        : `does not exist and cannot be created by this user (${whoAmI()}): ${existing} is not writable (${problem}); create it for this user, or point embedded.path at a directory it can write`,
    );
  }
  if (existing !== dir) return;
  for (const name of STORE_FILES) {
    const file = join(dir, name);
    if (statKind(file) === 'missing') continue;
    const fileProblem = access(file, constants.R_OK | constants.W_OK);
    if (fileProblem !== undefined) {
      refuse(`holds ${name}, which this user (${whoAmI()}) cannot read and write: ${fileProblem}; give the directory and its files to this user (chown -R)`, file);
    }
  }
}

function statKind(path: string): 'directory' | 'other' | 'missing' {
  try {
    return statSync(path).isDirectory() ? 'directory' : 'other';
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // A path we may not even look into counts as there: access() then says why.
    return code === 'ENOENT' ? 'missing' : code === 'ENOTDIR' ? 'other' : 'directory';
  }
}

/** Why access(2) refuses `mode` on `path`, or undefined if it allows it. */
function access(path: string, mode: number): string | undefined {
  try {
    accessSync(path, mode);
    return undefined;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    return code === 'EROFS' ? 'a read-only filesystem (EROFS)' : code === 'EACCES' ? 'permission denied (EACCES)' : code;
  }
}

/** `tester (uid 1001)`, or the uid alone when it has no name. */
function whoAmI(): string {
  const uid = process.getuid?.() ?? -1;
  try {
    return `${userInfo().username} (uid ${uid})`;
  } catch {
    return `uid ${uid}`;
  }
}
