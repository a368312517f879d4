/**
 * The embedded engine's size bound (`embedded.max_size`).
 *
 * lmdb-js grows its memory map, and so the file, whenever a write needs more room,
 * so LMDB itself never reports "full" before the disk does. The bound is therefore
 * logical: the pages the databases use (measured from LMDB's own statistics) plus
 * the bytes written since that measurement must stay within `maxSize`. The file
 * itself never shrinks, and LMDB's copy-on-write keeps some freed pages in reserve,
 * so the file can end up somewhat larger than `maxSize` (docs/embedded.md).
 */
import { statfsSync, statSync } from 'node:fs';
import { StorageError } from '../errors.js';

const MiB = 1024 * 1024;
/** The default bound never exceeds this… */
export const DEFAULT_MAX_SIZE_CEILING = 4096 * MiB;
/** …nor falls below this. */
export const DEFAULT_MAX_SIZE_FLOOR = 64 * MiB;

/**
 * The default bound: the store file's current size plus half the space free to
 * unprivileged users on the filesystem holding `dir`, at most 4 GiB, at least 64 MiB;
 * and never less than a quarter more than the file already holds, so that a store
 * that grew larger before the bound existed keeps taking writes after an upgrade.
 */
export function defaultMaxSize(dir: string, file: string): number {
  let fileSize = 0;
  try {
    fileSize = statSync(file).size;
  } catch {
    // Not created yet: nothing stored.
  }
  const fs = statfsSync(dir);
  const free = fs.bavail * fs.bsize;
  return Math.max(DEFAULT_MAX_SIZE_FLOOR, Math.min(DEFAULT_MAX_SIZE_CEILING, fileSize + Math.floor(free / 2)), Math.ceil(fileSize * 1.25));
}

/**
 * About how many bytes of pages a write of a new key takes: the record (the value
 * and about 45 bytes of MessagePack: expiry, version, checksum), in its leaf page or, when
 * larger than half a page, in whole overflow pages of its own; and the key twice,
 * in the namespace and in the expiry index, each with LMDB's node header.
 */
export function writeCost(keyBytes: number, valueBytes: number, pageSize: number): number {
  const record = valueBytes + 45;
  const values =
    record + keyBytes + 10 <= pageSize / 2 ? record + keyBytes + 10 : Math.ceil((record + 16) / pageSize) * pageSize + keyBytes + 18;
  return values + keyBytes + 30;
}

/**
 * Book-keeping for the bound. `measure` returns the bytes of the pages in use; it
 * is called at construction, by `refresh` (the engine calls it every sweeper
 * interval), and whenever more than 1% of `maxSize` was written since the last call.
 */
export class SpaceBudget {
  /** Bytes in use at the last measurement. */
  private measured: number;
  /** Bytes of writes committed since the last measurement. */
  private committed = 0;
  /** Bytes of writes admitted and not yet finished (they may or may not be in the measurement). */
  private pending = 0;
  /** Something was deleted since the last measurement: measure again before refusing a write. */
  private stale = false;
  /** After a failed measurement, writes do not trigger another before this time (ms). */
  private retryAt = 0;

  constructor(
    readonly maxSize: number,
    private readonly measure: () => number,
    /** Told when a measurement fails; the previous one stays in use (and grows with every write). */
    private readonly onError: (err: unknown) => void = () => undefined,
  ) {
    this.measured = measure();
  }

  /** The bytes in use as far as the budget knows: the last measurement plus everything written since. */
  get estimate(): number {
    return this.measured + this.committed + this.pending;
  }

  /** Measure again now. */
  refresh(): void {
    try {
      this.measured = this.measure();
      this.committed = 0;
      this.stale = false;
    } catch (err) {
      this.retryAt = Date.now() + 1000;
      this.onError(err);
    }
  }

  /** Measure again from a write, unless a measurement failed within the last second. */
  private refreshSoon(): void {
    if (Date.now() >= this.retryAt) this.refresh();
  }

  /**
   * Admit a write of about `bytes`, or throw a StorageError `full` if it would take the
   * store past `maxSize`. An admitted write must be `settle`d once it finished.
   */
  admit(bytes: number): void {
    if (this.committed > this.maxSize / 100) this.refreshSoon();
    if (this.estimate + bytes > this.maxSize && this.stale) this.refreshSoon();
    if (this.estimate + bytes > this.maxSize) {
      throw new StorageError('full', `the embedded store is full: about ${this.estimate} bytes of embedded.max_size ${this.maxSize} in use`);
    }
    this.pending += bytes;
  }

  /** An admitted write finished; `stored`: it was committed (not refused by its condition, not failed). */
  settle(bytes: number, stored: boolean): void {
    this.pending -= bytes;
    if (stored) this.committed += bytes;
  }

  /** Entries were deleted: the next write that would be refused measures first. */
  freed(): void {
    this.stale = true;
  }
}
