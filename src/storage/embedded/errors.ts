/**
 * What an LMDB failure means (lmdb-js puts the error number on `code`, base/internals.ts;
 * msgpackr's decoding errors carry none):
 *
 * - the file is damaged or not an LMDB file of ours (MDB_CORRUPTED, MDB_PAGE_NOTFOUND,
 *   MDB_INVALID, MDB_VERSION_MISMATCH, MDB_INCOMPATIBLE, MDB_PANIC, or a record read
 *   that does not decode): `corrupt`. Serving on would serve damaged data;
 * - the files cannot be read or written by this user, or the filesystem is read-only
 *   (EACCES, EPERM, EROFS): `permanent`, category `permission`;
 * - anything else: `unavailable`, the disk being full among them (freeing space fixes
 *   it). lmdb-js reports a failed commit as "Commit failed" with the cause on
 *   `commitError`, and LMDB itself reports a write the disk refused (ENOSPC, EFBIG) as
 *   EIO, so EIO is not taken for damage.
 */
import { lmdbCode } from '../../base/internals.js';
import { StorageError } from '../errors.js';

const CORRUPT_CODES = new Set([
  -30797, // MDB_PAGE_NOTFOUND
  -30796, // MDB_CORRUPTED
  -30795, // MDB_PANIC
  -30794, // MDB_VERSION_MISMATCH
  -30793, // MDB_INVALID
  -30784, // MDB_INCOMPATIBLE
]);
const PERMISSION_CODES = new Set([
  1, // EPERM
  13, // EACCES
  30, // EROFS
]);

/** True for LMDB's own failures (with its code), false for a record that did not decode. */
export function hasLmdbCode(err: unknown): boolean {
  return lmdbCode(err) !== undefined;
}

/**
 * The StorageError for an LMDB failure; `what` says what failed ("embedded read"…), for
 * the log. `decoding`: the failure came from reading a record (not from a commit), so an
 * error without an LMDB code is a record that does not decode.
 */
export function lmdbError(err: unknown, what: string, { decoding = false }: { decoding?: boolean } = {}): StorageError {
  if (err instanceof StorageError) return err;
  const code = lmdbCode(err);
  if (code !== undefined) {
    if (CORRUPT_CODES.has(code)) return new StorageError('corrupt', `${what} failed: the embedded store's file is damaged`, { cause: err });
    if (PERMISSION_CODES.has(code)) {
      return new StorageError('permanent', `${what} failed: the embedded store's files cannot be accessed (permission or read-only filesystem)`, {
        cause: err,
        category: 'permission',
      });
    }
  } else if (decoding) {
    // Not an LMDB error: the record's bytes did not decode.
    return new StorageError('corrupt', `${what} failed: a stored record does not decode`, { cause: err });
  }
  return new StorageError('unavailable', `${what} failed`, { cause: err });
}
