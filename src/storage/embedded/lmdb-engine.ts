/**
 * The embedded engine: LMDB through the `lmdb` package, in one directory on local disk.
 *
 * Layout inside the LMDB environment (`<path>/firkin.mdb`):
 *   - `meta`          : format marker, checked at open.
 *   - `ns:<name>`     : key -> msgpack array [expiresAtMs (0 = never), version, value bytes].
 *   - `exp:<name>`    : expiry index, key [expiresAtMs, key] -> 1, so the sweeper finds
 *                       expired entries without scanning the namespace.
 *
 * Writes run in LMDB write transactions (atomic, also across processes sharing the
 * directory) and are acknowledged only once LMDB reports them flushed to disk.
 * Reads are synchronous memory-mapped lookups; expired entries are never returned,
 * and a background sweeper deletes them in small transactions.
 *
 * Each namespace is an EmbeddedStore (lmdb-store.ts); this module opens the
 * environment, checks its format, sweeps expired entries and measures its size.
 *
 * The directory is kept at mode 0700 and its files at 0600, whatever the umask:
 * they hold every session. Writes are refused (a StorageError `full`) once the pages in
 * use reach `maxSize` (see space.ts); deletes and expiry always proceed.
 */
import { chmodSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { open, type Database, type RootDatabase, type RootDatabaseOptionsWithPath } from 'lmdb';
import type { EngineStore, NamespaceSpec, SpaceReport, StorageEngine } from '../engine.js';
import { StorageError } from '../errors.js';
import { lmdbError } from './errors.js';
import { lmdbStats, type LmdbStats } from '../../base/internals.js';
import { EmbeddedStore, type EngineState } from './lmdb-store.js';
import { defaultMaxSize, SpaceBudget } from './space.js';

const FORMAT = 1;
const FORMAT_KEY = 'format';

export interface EmbeddedEngineOptions {
  /** Directory holding the LMDB environment; created if missing. */
  readonly path: string;
  /** How often the sweeper looks for expired entries (ms). */
  readonly sweepIntervalMs?: number;
  /** How many expired entries one sweeper transaction deletes at most. */
  readonly sweepBatch?: number;
  /** Told when a sweep of a namespace fails (for the log); the sweep is retried next interval. */
  readonly onSweepError?: (namespace: string, err: unknown) => void;
  /** The size bound in bytes (`embedded.max_size`); undefined: the default of space.ts. */
  readonly maxSize?: number;
  /** Told when measuring the pages in use fails (for the log); the last measurement stays in use. */
  readonly onMeasureError?: (err: unknown) => void;
  /** Told how many expired values a sweep removed from a namespace (for the metrics). */
  readonly onReclaimed?: (namespace: string, count: number) => void;
}

const pagesOf = (s: LmdbStats): number => s.treeBranchPageCount + s.treeLeafPageCount + s.overflowPages;

/**
 * Give `path` exactly `mode`, unless it has it already. Throws a clear error when
 * that is not allowed (the path belongs to another user).
 */
function restrictMode(path: string, mode: number): void {
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

export class EmbeddedEngine implements StorageEngine, EngineState {
  readonly kind = 'embedded' as const;
  readonly knowsPreviousVersion = true;
  /** What the metrics read at each scrape. */
  readonly space: SpaceReport;
  private readonly root: RootDatabase;
  private readonly meta: Database;
  private readonly stores = new Map<string, EmbeddedStore>();
  private readonly sweepTimer: NodeJS.Timeout;
  private readonly sweepBatch: number;
  private readonly onSweepError: (namespace: string, err: unknown) => void;
  private readonly onReclaimed: (namespace: string, count: number) => void;
  /** The LMDB data file (`<path>/firkin.mdb`). */
  private readonly file: string;
  /** Handles used only to read each database's statistics, by database name. */
  private readonly measured = new Map<string, Database>();
  /** The size bound: admits or refuses every write. */
  readonly budget: SpaceBudget;
  private readonly pageSize: number;
  private sweeping = false;
  /** False once closed: the stores check it before touching LMDB. */
  open = true;

  constructor(options: EmbeddedEngineOptions) {
    const file = join(options.path, 'firkin.mdb');
    this.file = file;
    mkdirSync(options.path, { recursive: true, mode: 0o700 });
    if (statSync(options.path).mode & 0o1000) {
      // Never chmod a shared directory such as /tmp.
      throw new Error(`${options.path} is a shared directory (sticky bit set): give embedded.path a directory of Firkin's own`);
    }
    restrictMode(options.path, 0o700);
    const files = [file, `${file}-lock`];
    for (const f of files) if (existsSync(f)) restrictMode(f, 0o600);
    // permissionsMode: LMDB creates both files 0600 (less only what the umask takes away).
    const lmdbOptions: RootDatabaseOptionsWithPath & { permissionsMode: number } = {
      path: file,
      maxDbs: 256,
      eventTurnBatching: false,
      permissionsMode: 0o600,
    };
    this.root = open(lmdbOptions);
    try {
      for (const f of files) restrictMode(f, 0o600);
    } catch (err) {
      void this.root.close();
      throw err;
    }
    this.meta = this.root.openDB({ name: 'meta' });
    const format: unknown = this.meta.get(FORMAT_KEY);
    if (format === undefined) {
      this.meta.putSync(FORMAT_KEY, FORMAT);
    } else if (format !== FORMAT) {
      this.root.close();
      throw new Error(`${options.path} holds embedded data format ${String(format)}; this Firkin reads format ${FORMAT}`);
    }
    this.sweepBatch = options.sweepBatch ?? 500;
    this.onSweepError = options.onSweepError ?? (() => undefined);
    this.onReclaimed = options.onReclaimed ?? (() => undefined);
    this.pageSize = lmdbStats(this.root).pageSize;
    this.budget = new SpaceBudget(options.maxSize ?? defaultMaxSize(options.path, file), () => this.usedBytes(), options.onMeasureError);
    this.space = {
      fileBytes: () => this.fileBytes(),
      usedBytes: () => this.usedBytes(),
      maxSize: this.budget.maxSize,
      entries: () => this.entries(),
    };
    this.sweepTimer = setInterval(() => void this.tick(), options.sweepIntervalMs ?? 1000);
    this.sweepTimer.unref();
  }

  /** Every sweeper interval: delete what expired, then measure the pages in use afresh. */
  private async tick(): Promise<void> {
    await this.sweep();
    if (this.open) this.budget.refresh();
  }

  /**
   * Bytes of the pages in use now: the branch, leaf and overflow pages of the main
   * database, of LMDB's free-page list and of every named database in the file
   * (also those of namespaces no longer configured), times the page size. Free
   * pages inside the file are not counted: LMDB reuses them.
   */
  usedBytes(): number {
    const root = lmdbStats(this.root);
    let bytes = (pagesOf(root) + (root.free === undefined ? 0 : pagesOf(root.free))) * root.pageSize;
    for (const name of Array.from(this.root.getKeys())) {
      if (typeof name !== 'string') continue;
      let db = this.measured.get(name);
      if (db === undefined) {
        db = this.root.openDB({ name, encoding: 'binary' });
        this.measured.set(name, db);
      }
      const stats = lmdbStats(db);
      bytes += pagesOf(stats) * stats.pageSize;
    }
    return bytes;
  }

  /** Size of the data file in bytes: what the store takes on disk (LMDB never shrinks it). */
  fileBytes(): number {
    return statSync(this.file).size;
  }

  /**
   * Values stored per namespace, from LMDB's statistics (no scan): expired values
   * still count until the sweeper has removed them (within a sweep interval).
   */
  entries(): Map<string, number> {
    return new Map([...this.stores].map(([name, store]) => [name, store.entries()]));
  }

  store(namespace: NamespaceSpec): EngineStore {
    let store = this.stores.get(namespace.name);
    if (!store) {
      store = new EmbeddedStore(this.root, namespace.name, this, this.budget, this.pageSize);
      this.stores.set(namespace.name, store);
    }
    return store;
  }

  async probe(): Promise<void> {
    if (!this.open) throw new StorageError('unavailable', 'embedded engine is closed');
    let format: unknown;
    try {
      format = this.meta.get(FORMAT_KEY);
    } catch (err) {
      throw lmdbError(err, 'embedded probe', { decoding: true });
    }
    if (format !== FORMAT) throw new StorageError('corrupt', 'embedded probe failed: the format marker is missing or wrong');
  }

  /**
   * Delete expired entries, oldest first, a batch per transaction, until none is left.
   * Returns how many values were deleted. Requests interleave between batches.
   */
  async sweep(now = Date.now()): Promise<number> {
    if (this.sweeping || !this.open) return 0;
    this.sweeping = true;
    let total = 0;
    try {
      for (const [name, store] of this.stores) {
        try {
          for (;;) {
            if (!this.open) return total;
            const { consumed, removed } = await store.sweepBatch(now, this.sweepBatch);
            total += removed;
            if (removed > 0) {
              this.budget.freed();
              this.onReclaimed(name, removed);
            }
            if (consumed < this.sweepBatch) break;
          }
        } catch (err) {
          // Retried at the next interval; reads never return expired entries meanwhile.
          this.onSweepError(name, err);
        }
      }
    } finally {
      this.sweeping = false;
    }
    return total;
  }

  async close(): Promise<void> {
    if (!this.open) return;
    this.open = false;
    clearInterval(this.sweepTimer);
    await this.root.flushed;
    await this.root.close();
  }
}
