/**
 * The embedded engine: LMDB through the `lmdb` package, in one directory on local disk.
 *
 * Layout inside the LMDB environment (`<path>/firkin.mdb`):
 *   - `meta`          : format marker (`format`: 2), checked at open; `legacy` while
 *                       records of format 1 may remain (see below).
 *   - `ns:<name>`     : key -> msgpack array [expiresAtMs (0 = never), version, value bytes,
 *                       CRC-32 of them and the key] (record.ts), verified on every read.
 *   - `exp:<name>`    : expiry index, key [expiresAtMs, key] -> 1, so the sweeper finds
 *                       expired entries without scanning the namespace.
 *
 * Format 1 stored records without the checksum. Opening such a store sets the marker to 2
 * and `legacy` in one transaction (an older Firkin then refuses the store, rather than
 * take the new records for damage), and the sweeper's tick rewrites every format-1
 * record with its checksum, in batches, then removes `legacy`; until then a format-1
 * record is served unverified.
 *
 * Writes run in LMDB write transactions (atomic, also across processes sharing the
 * directory) and are acknowledged only once LMDB reports them flushed to disk.
 * Reads are synchronous memory-mapped lookups; expired entries are never returned,
 * and a background sweeper deletes them in small transactions.
 *
 * Each namespace is an EmbeddedStore (lmdb-store.ts); this module opens the
 * environment, checks its format, sweeps expired entries and measures its size.
 * Read-only (`readOnly`), it opens a store another process may be serving (LMDB allows
 * any number of readers beside the writers), changes nothing in the directory and
 * refuses every write: for tools such as `firkin store check`. It takes no instance
 * lock; neither does the read-write engine: `firkin serve` takes it (instance-lock.ts).
 *
 * The directory is kept at mode 0700 and its files at 0600, whatever the umask:
 * they hold every session. Writes are refused (a StorageError `full`) once the pages in
 * use reach `maxSize` (see space.ts); deletes and expiry always proceed.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { open, type Database, type RootDatabase, type RootDatabaseOptionsWithPath } from 'lmdb';
import type { NamespaceSpec, SpaceReport, StorageEngine } from '../engine.js';
import { StorageError } from '../errors.js';
import { lmdbError } from './errors.js';
import { lmdbStats, openExistingDb, type LmdbStats } from '../../base/internals.js';
import { EmbeddedStore, type DamageSeen, type EngineState } from './lmdb-store.js';
import type { Damage } from './record.js';
import { DATA_FILE, prepareDirectory, restrictMode } from './files.js';
import { defaultMaxSize, SpaceBudget } from './space.js';

/** The layout this Firkin writes (record.ts)… */
export const FORMAT = 2;
/** …and the older one it still reads, and upgrades. */
const LEGACY_FORMAT = 1;
const FORMAT_KEY = 'format';
const LEGACY_KEY = 'legacy';

/** What `firkin store check` learns of one namespace's records (EmbeddedStore.verify). */
export type NamespaceCheck = ReturnType<EmbeddedStore['verify']> & { readonly namespace: string };

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
  /** Told of every damaged record met (for the log and the metrics): never the key. */
  readonly onDamaged?: (namespace: string, operation: DamageSeen, damage: Damage) => void;
  /**
   * Open the store read-only: nothing in the directory is created or changed (the file
   * must exist), no sweep, and every write is refused. For tools that read a store a
   * server may be serving.
   */
  readonly readOnly?: boolean;
}

const pagesOf = (s: LmdbStats): number => s.treeBranchPageCount + s.treeLeafPageCount + s.overflowPages;

/** The names of the namespaces whose databases the file holds (configured or not). */
function namespacesIn(root: RootDatabase): string[] {
  const names: string[] = [];
  for (const name of root.getKeys()) if (typeof name === 'string' && name.startsWith('ns:')) names.push(name.slice(3));
  return names;
}

export class EmbeddedEngine implements StorageEngine, EngineState {
  readonly kind = 'embedded' as const;
  readonly knowsPreviousVersion = true;
  /** What the metrics read at each scrape. */
  readonly space: SpaceReport;
  private readonly root: RootDatabase;
  /** Undefined only read-only, in a file that has no `meta` database (an empty LMDB file). */
  private readonly meta: Database | undefined;
  private readonly stores = new Map<string, EmbeddedStore>();
  /** Namespaces in the file that are not configured: only the format upgrade touches them. */
  private readonly others = new Map<string, EmbeddedStore>();
  private readonly sweepTimer: NodeJS.Timeout | undefined;
  private readonly sweepBatch: number;
  private readonly onSweepError: (namespace: string, err: unknown) => void;
  private readonly onReclaimed: (namespace: string, count: number) => void;
  private readonly onDamaged: (namespace: string, operation: DamageSeen, damage: Damage) => void;
  readonly readOnly: boolean;
  /** The file may still hold format-1 records (record.ts): they are read unverified, and rewritten. */
  legacy: boolean;
  /** The format marker found at open (undefined: a file with no `meta` database, read-only). */
  readonly format: number | undefined;
  /** How far the format upgrade has walked each namespace: the last key rewritten, or null once done. */
  private readonly upgraded = new Map<string, string | null>();
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
    this.readOnly = options.readOnly === true;
    const file = this.readOnly ? join(options.path, DATA_FILE) : prepareDirectory(options.path);
    this.file = file;
    const files = [file, `${file}-lock`];
    if (this.readOnly) {
      if (!existsSync(file)) throw new Error(`there is no embedded store at ${file}`);
    } else {
      for (const f of files) if (existsSync(f)) restrictMode(f, 0o600);
    }
    // permissionsMode: LMDB creates both files 0600 (less only what the umask takes away).
    const lmdbOptions: RootDatabaseOptionsWithPath & { permissionsMode: number } = {
      path: file,
      maxDbs: 256,
      eventTurnBatching: false,
      permissionsMode: 0o600,
      ...(this.readOnly ? { readOnly: true } : {}),
    };
    this.root = open(lmdbOptions);
    try {
      if (!this.readOnly) for (const f of files) restrictMode(f, 0o600);
      this.meta = this.readOnly ? openExistingDb<Database>(this.root, { name: 'meta' }) : this.root.openDB({ name: 'meta' });
      const found = this.meta?.get(FORMAT_KEY) as unknown;
      if (found === undefined && namespacesIn(this.root).length > 0) {
        throw new Error(`${file} holds databases but no format marker: it is not a store Firkin wrote`);
      }
      if (found !== undefined && found !== FORMAT && found !== LEGACY_FORMAT) {
        throw new Error(`${options.path} holds embedded data format ${String(found)}; this Firkin reads formats ${LEGACY_FORMAT} and ${FORMAT}`);
      }
      if (this.readOnly) {
        this.format = found as number | undefined;
        this.legacy = found === LEGACY_FORMAT || this.meta?.get(LEGACY_KEY) !== undefined;
      } else {
        // A new store is format 2; a format-1 store becomes format 2 with `legacy` set, in one transaction.
        const meta = this.meta!;
        if (found !== FORMAT) {
          this.root.transactionSync(() => {
            const format = meta.get(FORMAT_KEY) as unknown; // again: another worker may have done it since
            if (format === FORMAT) return;
            if (format === LEGACY_FORMAT) meta.putSync(LEGACY_KEY, 1);
            meta.putSync(FORMAT_KEY, FORMAT);
          });
        }
        this.format = FORMAT;
        this.legacy = meta.get(LEGACY_KEY) !== undefined;
      }
    } catch (err) {
      void this.root.close();
      throw err;
    }
    this.sweepBatch = options.sweepBatch ?? 500;
    this.onSweepError = options.onSweepError ?? (() => undefined);
    this.onReclaimed = options.onReclaimed ?? (() => undefined);
    this.onDamaged = options.onDamaged ?? (() => undefined);
    this.pageSize = lmdbStats(this.root).pageSize;
    this.budget = new SpaceBudget(options.maxSize ?? defaultMaxSize(options.path, file), () => this.usedBytes(), options.onMeasureError);
    this.space = {
      fileBytes: () => this.fileBytes(),
      usedBytes: () => this.usedBytes(),
      maxSize: this.budget.maxSize,
      entries: () => this.entries(),
    };
    if (!this.readOnly) {
      this.sweepTimer = setInterval(() => void this.tick(), options.sweepIntervalMs ?? 1000);
      this.sweepTimer.unref();
    }
  }

  /** EngineState: a damaged record was met. */
  damaged(namespace: string, operation: DamageSeen, damage: Damage): void {
    this.onDamaged(namespace, operation, damage);
  }

  /** Every sweeper interval: delete what expired, then measure the pages in use afresh. */
  private async tick(): Promise<void> {
    await this.sweep();
    await this.upgrade();
    if (this.open) this.budget.refresh();
  }

  /**
   * While the store may hold format-1 records: rewrite them with their checksum, a batch
   * per transaction, every namespace in the file (configured or not), then remove the
   * `legacy` mark. Returns how many records were rewritten. Interrupted (a failure, a
   * stop), it goes on from where it was at the next tick, or from the start in the next
   * process; another worker doing the same at the same time is harmless (each batch reads
   * and rewrites in one transaction, and skips what is format 2 already).
   */
  async upgrade(): Promise<number> {
    if (!this.legacy || this.readOnly || !this.open || this.sweeping) return 0;
    this.sweeping = true;
    let total = 0;
    try {
      if (this.meta!.get(LEGACY_KEY) === undefined) {
        this.legacy = false; // another process finished it
        return 0;
      }
      for (const name of namespacesIn(this.root)) {
        let after = this.upgraded.get(name);
        if (after === null) continue;
        const store = this.stores.get(name) ?? this.others.get(name) ?? this.other(name);
        try {
          for (;;) {
            if (!this.open) return total;
            const batch = await store.upgradeBatch(after, this.sweepBatch);
            total += batch.rewritten;
            after = batch.last;
            this.upgraded.set(name, batch.done ? null : (after ?? null));
            if (batch.done) break;
          }
        } catch (err) {
          this.onSweepError(name, err);
          return total; // retried at the next tick, from where it stopped
        }
      }
      // Every namespace walked to its end: no format-1 record is left (this Firkin writes none).
      const meta = this.meta!;
      await this.root.transaction(() => meta.removeSync(LEGACY_KEY));
      await this.root.flushed;
      this.legacy = false;
    } catch (err) {
      this.onSweepError('', err);
    } finally {
      this.sweeping = false;
    }
    return total;
  }

  /** A store for a namespace in the file that is not configured (for the upgrade only). */
  private other(name: string): EmbeddedStore {
    const store = new EmbeddedStore(this.root, name, this, this.budget, this.pageSize);
    this.others.set(name, store);
    return store;
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

  store(namespace: NamespaceSpec): EmbeddedStore {
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
      format = this.meta?.get(FORMAT_KEY);
    } catch (err) {
      throw lmdbError(err, 'embedded probe', { decoding: true });
    }
    if (format !== this.format) throw new StorageError('corrupt', 'embedded probe failed: the format marker is missing or wrong');
  }

  /**
   * Walk the root-to-leaf paths to the first and the last entry of every database in the
   * file, reading each entry there (the start-up probe, in a child process: probe.ts).
   * Returns the namespaces found. LMDB's own failures throw.
   */
  walkEdges(): string[] {
    for (const name of Array.from(this.root.getKeys())) {
      if (typeof name !== 'string') continue;
      const db = openExistingDb<Database<Buffer, Buffer>>(this.root, { name, encoding: 'binary', keyEncoding: 'binary' });
      if (db === undefined) continue;
      for (const edge of [db.getRange({ limit: 1 }), db.getRange({ limit: 1, reverse: true })]) for (const entry of edge) void entry.value;
    }
    return namespacesIn(this.root);
  }

  /** Read and check every record of every namespace in the file (`firkin store check`). */
  verifyAll(now = Date.now()): NamespaceCheck[] {
    return namespacesIn(this.root).map((name) => ({
      namespace: name,
      ...(this.stores.get(name) ?? this.others.get(name) ?? this.other(name)).verify(now),
    }));
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

  /**
   * Write a consistent copy of the whole store to `file` (`firkin backup`): LMDB's own
   * copy with compaction (mdb_env_copy2, MDB_CP_COMPACT), made in one read transaction
   * while writers go on, holding only the pages in use, free pages left out. The copy is
   * a store like this one (its format marker and every record's checksum with it). `file`
   * must not exist; its mode is what the umask gives: the caller restricts it.
   */
  async backup(file: string): Promise<void> {
    if (!this.open) throw new Error('the embedded engine is closed');
    await this.root.backup(file, true);
  }

  async close(): Promise<void> {
    if (!this.open) return;
    this.open = false;
    clearInterval(this.sweepTimer);
    if (!this.readOnly) await this.root.flushed;
    await this.root.close();
  }
}
