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
 * The directory is kept at mode 0700 and its files at 0600, whatever the umask:
 * they hold every session. Writes are refused (StorageFullError) once the pages in
 * use reach `maxSize` (see space.ts); deletes and expiry always proceed.
 */
import { chmodSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { open, type Database, type RootDatabase, type RootDatabaseOptionsWithPath } from 'lmdb';
import { defaultMaxSize, SpaceBudget, writeCost } from './space.js';
import {
  StorageUnavailableError,
  type Condition,
  type KeyValueStore,
  type NamespaceSpec,
  type SetOutcome,
  type StorageEngine,
  type StoredValue,
  type Touched,
} from '../engine.js';
import { conditionHolds, valueVersion } from '../version.js';

/** On-disk record: [expiresAtMs (0: never), version, value]. */
type StoredRecord = [number, string, Buffer];
type ExpiryKey = [number, string];

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

/** LMDB's statistics of one database (lmdb's getStats()). */
interface DbStats {
  readonly pageSize: number;
  readonly entryCount: number;
  readonly treeBranchPageCount: number;
  readonly treeLeafPageCount: number;
  readonly overflowPages: number;
}

const pagesOf = (s: DbStats): number => s.treeBranchPageCount + s.treeLeafPageCount + s.overflowPages;

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

/** A write whose commit has not been flushed after this long is reported unavailable (503). */
const FLUSH_TIMEOUT_MS = 10_000;

export class EmbeddedEngine implements StorageEngine {
  readonly kind = 'embedded' as const;
  readonly knowsPreviousVersion = true;
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
  readonly space: SpaceBudget;
  private readonly pageSize: number;
  private sweeping = false;
  private closed = false;

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
    this.pageSize = (this.root.getStats() as DbStats).pageSize;
    this.space = new SpaceBudget(options.maxSize ?? defaultMaxSize(options.path, file), () => this.usedBytes(), options.onMeasureError);
    this.sweepTimer = setInterval(() => void this.tick(), options.sweepIntervalMs ?? 1000);
    this.sweepTimer.unref();
  }

  /** Every sweeper interval: delete what expired, then measure the pages in use afresh. */
  private async tick(): Promise<void> {
    await this.sweep();
    if (!this.closed) this.space.refresh();
  }

  /**
   * Bytes of the pages in use now: the branch, leaf and overflow pages of the main
   * database, of LMDB's free-page list and of every named database in the file
   * (also those of namespaces no longer configured), times the page size. Free
   * pages inside the file are not counted: LMDB reuses them.
   */
  usedBytes(): number {
    const root = this.root.getStats() as DbStats & { readonly free: DbStats };
    let bytes = (pagesOf(root) + pagesOf(root.free)) * root.pageSize;
    for (const name of Array.from(this.root.getKeys())) {
      if (typeof name !== 'string') continue;
      let db = this.measured.get(name);
      if (db === undefined) {
        db = this.root.openDB({ name, encoding: 'binary' });
        this.measured.set(name, db);
      }
      const stats = db.getStats() as DbStats;
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

  store(namespace: NamespaceSpec): KeyValueStore {
    let store = this.stores.get(namespace.name);
    if (!store) {
      store = new EmbeddedStore(this.root, namespace.name, () => !this.closed, this.space, this.pageSize);
      this.stores.set(namespace.name, store);
    }
    return store;
  }

  async probe(): Promise<void> {
    if (this.closed) throw new StorageUnavailableError('embedded engine is closed');
    try {
      if (this.meta.get(FORMAT_KEY) !== FORMAT) throw new Error('format marker missing');
    } catch (err) {
      throw new StorageUnavailableError('embedded engine did not answer', { cause: err });
    }
  }

  /**
   * Delete expired entries, oldest first, a batch per transaction, until none is left.
   * Returns how many values were deleted. Requests interleave between batches.
   */
  async sweep(now = Date.now()): Promise<number> {
    if (this.sweeping || this.closed) return 0;
    this.sweeping = true;
    let total = 0;
    try {
      for (const [name, store] of this.stores) {
        try {
          for (;;) {
            if (this.closed) return total;
            const { consumed, removed } = await store.sweepBatch(now, this.sweepBatch);
            total += removed;
            if (removed > 0) {
              this.space.freed();
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
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sweepTimer);
    await this.root.flushed;
    await this.root.close();
  }
}

class EmbeddedStore implements KeyValueStore {
  private readonly values: Database<StoredRecord, string>;
  private readonly expiry: Database<number, ExpiryKey>;

  constructor(
    private readonly root: RootDatabase,
    name: string,
    /** False once the engine is closed: LMDB must not be touched after that. */
    private readonly isOpen: () => boolean,
    private readonly space: SpaceBudget,
    private readonly pageSize: number,
  ) {
    this.values = root.openDB<StoredRecord, string>({ name: `ns:${name}` });
    this.expiry = root.openDB<number, ExpiryKey>({ name: `exp:${name}` });
  }

  async get(key: string): Promise<StoredValue | undefined> {
    if (!this.isOpen()) throw new StorageUnavailableError('embedded engine is closed');
    let record: StoredRecord | undefined;
    try {
      record = this.values.get(key);
    } catch (err) {
      throw new StorageUnavailableError('embedded read failed', { cause: err });
    }
    if (record === undefined) return undefined;
    const [expiresAt, version, value] = record;
    const now = Date.now();
    if (expiresAt !== 0 && expiresAt <= now) return undefined;
    return { value, version, ttl: expiresAt === 0 ? null : Math.ceil((expiresAt - now) / 1000) };
  }

  async set(key: string, value: Buffer, ttlSeconds: number, condition?: Condition): Promise<SetOutcome> {
    if (!this.isOpen()) throw new StorageUnavailableError('embedded engine is closed');
    const bytes = writeCost(Buffer.byteLength(key), value.length, this.pageSize);
    this.space.admit(bytes); // throws StorageFullError at the bound
    const expiresAt = ttlSeconds > 0 ? Date.now() + ttlSeconds * 1000 : 0;
    const version = valueVersion(value);
    let previous: string | null | false | undefined;
    try {
      // The transaction's result: the replaced live version (null: none), or false if the condition failed.
      previous = await this.write((): string | null | false => {
        const old = this.values.get(key);
        const live = old !== undefined && (old[0] === 0 || old[0] > Date.now()) ? old : undefined;
        if (!conditionHolds(condition, live?.[1])) return false;
        if (old !== undefined && old[0] !== 0) this.expiry.removeSync([old[0], key]);
        this.values.putSync(key, [expiresAt, version, value]);
        if (expiresAt !== 0) this.expiry.putSync([expiresAt, key], 1);
        return live?.[1] ?? null;
      });
    } finally {
      this.space.settle(bytes, previous !== undefined && previous !== false);
    }
    return previous === false ? { applied: false } : { applied: true, version, previousVersion: previous };
  }

  /**
   * Read and rewrite in one write transaction: the same bytes and version, a new expiry.
   * Never refused by the size bound, like a delete: it stores nothing new, and refusing
   * it at the bound would end sessions early.
   */
  async touch(key: string, ttlSeconds: number): Promise<Touched | undefined> {
    const version = await this.write((): string | undefined => {
      const old = this.values.get(key);
      const now = Date.now();
      if (old === undefined || (old[0] !== 0 && old[0] <= now)) return undefined;
      const expiresAt = ttlSeconds > 0 ? now + ttlSeconds * 1000 : 0;
      if (old[0] !== 0) this.expiry.removeSync([old[0], key]);
      this.values.putSync(key, [expiresAt, old[1], old[2]]);
      if (expiresAt !== 0) this.expiry.putSync([expiresAt, key], 1);
      return old[1];
    });
    return version === undefined ? undefined : { version, ttl: ttlSeconds > 0 ? ttlSeconds : null };
  }

  /** Never refused by the size bound: LMDB grows the map for it if need be, and frees the pages. */
  async delete(key: string): Promise<void> {
    const removed = await this.write(() => {
      const old = this.values.get(key);
      if (old === undefined) return false;
      if (old[0] !== 0) this.expiry.removeSync([old[0], key]);
      this.values.removeSync(key);
      return true;
    });
    if (removed) this.space.freed();
  }

  /**
   * Empty the namespace and its expiry index in one child transaction: a failure
   * aborts both, so no value is ever left without its index entry or the reverse.
   * Never refused by the size bound, like a delete.
   */
  async truncate(): Promise<void> {
    await this.write(() => {
      this.values.clearSync();
      this.expiry.clearSync();
    }, true);
    this.space.freed();
  }

  /** Values stored, expired ones not yet swept included (LMDB's own count). */
  entries(): number {
    return (this.values.getStats() as DbStats).entryCount;
  }

  /**
   * Delete up to `limit` entries that expired before `now`: how many index entries it
   * consumed, and how many values it removed (an index entry whose value was rewritten
   * since removes none).
   */
  sweepBatch(now: number, limit: number): Promise<{ consumed: number; removed: number }> {
    return this.write(() => {
      const due = Array.from(this.expiry.getKeys({ start: [0], end: [now], limit }));
      let removed = 0;
      for (const [expiresAt, key] of due) {
        const record = this.values.get(key);
        if (record !== undefined && record[0] === expiresAt) {
          this.values.removeSync(key);
          removed++;
        }
        this.expiry.removeSync([expiresAt, key]);
      }
      return { consumed: due.length, removed };
    });
  }

  /**
   * Run `body` in a write transaction and resolve once the commit is flushed to disk.
   * `abortable`: as a child transaction, undone whole if `body` throws (lmdb-js commits
   * what a plain transaction callback wrote before it threw, with its batch).
   */
  private async write<T>(body: () => T, abortable = false): Promise<T> {
    if (!this.isOpen()) throw new StorageUnavailableError('embedded engine is closed');
    let result: T;
    try {
      result = await (abortable ? this.values.childTransaction(body) : this.values.transaction(body));
      // lmdb resolves `flushed` only on success: bound the wait so a failing fsync answers 503, not never.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        this.root.flushed,
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`commit not flushed within ${FLUSH_TIMEOUT_MS} ms`)), FLUSH_TIMEOUT_MS);
        }),
      ]).finally(() => clearTimeout(timer));
    } catch (err) {
      // lmdb later rejects a second promise with the commit's own error (ENOSPC, EIO, EFBIG…):
      // handle it so it cannot surface as an unhandled rejection.
      (err as { commitError?: Promise<unknown> }).commitError?.catch(() => undefined);
      throw new StorageUnavailableError('embedded write failed', { cause: err });
    }
    return result;
  }
}
