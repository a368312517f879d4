/**
 * One server per data directory. Two `firkin serve` on one `embedded.path` would each
 * run a sweeper and a size budget of their own, and nothing would tell the operator
 * that a second instance, meant for another directory, shares this one. So `firkin
 * serve` takes an exclusive lock on `<embedded.path>/firkin.lock` before it opens the
 * store (the primary, before it forks its workers, which share the store by design),
 * and holds it until it exits; a second instance exits at once naming the directory
 * and the holder's pid. `firkin store reset` takes it too (it must not move a store a
 * server is using). Read-only tools (`firkin store check`, and the engine's `readOnly`)
 * do not: LMDB lets them read a live store.
 *
 * The lock is a POSIX advisory lock held by the kernel (base/internals.ts, lockFile):
 * it ends with the process however the process ends (SIGKILL, a crash), so a stale
 * lock cannot exist, and it works across PID and network namespaces (containers sharing
 * a volume) on one host. The file stays (empty); it is never the evidence, the kernel's
 * lock is. The holder's pid comes from /proc/locks (proc(5)).
 */
import { closeSync, openSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { lockFile, type FileLock } from '../../base/internals.js';
import { prepareDirectory, restrictMode } from './files.js';

export const LOCK_FILE = 'firkin.lock';

/** Another process holds the directory's lock. */
export class StoreInUse extends Error {
  constructor(
    readonly dir: string,
    /** The holder's pid, when /proc/locks shows it. */
    readonly holder: number | undefined,
  ) {
    super(`the embedded store ${dir} is in use by another Firkin instance (${holder === undefined ? 'pid unknown' : `pid ${holder}`})`);
    this.name = 'StoreInUse';
  }
}

/**
 * Take the lock of the store in `dir` (the directory is created, 0700, if missing), or
 * throw StoreInUse. Held until released or the process exits.
 */
export function lockStore(dir: string): FileLock {
  dir = resolve(dir);
  prepareDirectory(dir);
  const file = join(dir, LOCK_FILE);
  closeSync(openSync(file, 'a', 0o600));
  restrictMode(file, 0o600);
  const lock = lockFile(file);
  if (lock === undefined) throw new StoreInUse(dir, lockHolder(file));
  return lock;
}

/** The pid of a process holding a POSIX lock on `file`, from /proc/locks; undefined if none is shown. */
export function lockHolder(file: string): number | undefined {
  let table: string;
  try {
    table = readFileSync('/proc/locks', 'utf8');
  } catch {
    return undefined; // not Linux, or no /proc
  }
  const { dev, ino } = statSync(file, { bigint: true });
  // The kernel prints the device as MAJOR:MINOR in hex (new_encode_dev's halves).
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
  const id = `${major.toString(16).padStart(2, '0')}:${minor.toString(16).padStart(2, '0')}:${ino}`;
  // Some filesystems (btrfs, overlayfs) show another device there than stat() does: then the inode alone.
  for (const matches of [(f: string) => f === id, (f: string) => f.endsWith(`:${ino}`) && f.split(':').length === 3]) {
    for (const line of table.split('\n')) {
      // "1: POSIX  ADVISORY  WRITE 1234 08:01:5678 1073741824 1073742335" (waiters have "->" after the number)
      const fields = line.trim().split(/\s+/);
      if (fields[1] === '->') continue;
      const at = fields.findIndex(matches);
      if (at < 1) continue;
      const pid = Number(fields[at - 1]);
      if (Number.isInteger(pid) && pid > 0) return pid;
    }
  }
  return undefined;
}
