/**
 * One namespace of the embedded engine (lmdb-engine.ts describes the layout): its
 * values and their expiry index, each write in one LMDB write transaction that is
 * acknowledged once flushed to disk. Every record read is checked against its checksum
 * (record.ts): a damaged one is never served, and is reported to the engine (the log
 * and the metrics, never the key).
 */
import type { Database, RootDatabase } from 'lmdb';
import { commitFailure, lmdbStats, openExistingDb } from '../../base/internals.js';
import type { Condition, EngineStore, SetOutcome, StoredValue, Touched } from '../engine.js';
import { StorageError } from '../errors.js';
import { conditionHolds, randomVersion } from '../version.js';
import { hasLmdbCode, lmdbError } from './errors.js';
import { check, DAMAGED, seal, type Damage, type StoredRecord } from './record.js';
import { writeCost, type SpaceBudget } from './space.js';

type ExpiryKey = [number, string];

/** A write whose commit has not been flushed after this long is reported unavailable (503). */
const FLUSH_TIMEOUT_MS = 10_000;

/** Whether a record is still live at `now` (ms). */
const isLive = (record: StoredRecord, now: number): boolean => record[0] === 0 || record[0] > now;

const DAMAGED_RECORD = 'a stored record is damaged (it does not decode, is not of this engine\'s shape, or fails its checksum)';

/** Where a damaged record was met, for the log and the metrics. */
export type DamageSeen = 'get' | 'touch' | 'set' | 'delete' | 'relocate' | 'sweep' | 'upgrade' | 'verify' | 'export';

/** A live record as `firkin export` reads it (ScanPage). */
export interface ScannedRecord {
  readonly key: string;
  readonly value: Buffer;
  /** When it expires (ms since the epoch), or null: never. */
  readonly expiresAt: number | null;
}

/** One page of a namespace's walk (EmbeddedStore.scan). */
export interface ScanPage {
  /** The live records of the page, in key order. */
  readonly records: readonly ScannedRecord[];
  /** The last key looked at (the next page starts after it). */
  readonly last: string | undefined;
  /** The walk reached the end of the namespace. */
  readonly done: boolean;
  /** Damaged records met (never returned). */
  readonly damaged: number;
}

/** What the store shares with its engine (lmdb-engine.ts). */
export interface EngineState {
  /** False once the engine is closed: LMDB must not be touched after that. */
  readonly open: boolean;
  /** The store may still hold format-1 records without a checksum (record.ts). */
  readonly legacy: boolean;
  /** Opened read-only: every write is refused. */
  readonly readOnly: boolean;
  /** A damaged record of `namespace` was met by `operation`. */
  damaged(namespace: string, operation: DamageSeen, damage: Damage): void;
}

export class EmbeddedStore implements EngineStore {
  readonly acceptsConditions = true;
  /** Undefined only in a read-only engine whose file has no such database: nothing stored. */
  private readonly values: Database<unknown, string> | undefined;
  private readonly expiry: Database<number, ExpiryKey> | undefined;

  constructor(
    private readonly root: RootDatabase,
    readonly name: string,
    private readonly engine: EngineState,
    private readonly space: SpaceBudget,
    private readonly pageSize: number,
  ) {
    if (engine.readOnly) {
      this.values = openExistingDb<Database<unknown, string>>(root, { name: `ns:${name}` });
      this.expiry = openExistingDb<Database<number, ExpiryKey>>(root, { name: `exp:${name}` });
    } else {
      this.values = root.openDB<unknown, string>({ name: `ns:${name}` });
      this.expiry = root.openDB<number, ExpiryKey>({ name: `exp:${name}` });
    }
  }

  /**
   * The record of `key` (inside a transaction or not): undefined when absent, DAMAGED
   * when it does not decode, is not of this engine's shape or fails its checksum (then
   * reported to the engine as met by `operation`). LMDB's own failures throw.
   */
  private read(key: string, operation: DamageSeen): StoredRecord | undefined | typeof DAMAGED {
    if (this.values === undefined) return undefined;
    let stored: unknown;
    try {
      stored = this.values.get(key);
    } catch (err) {
      if (hasLmdbCode(err)) throw err;
      this.engine.damaged(this.name, operation, 'undecodable'); // msgpackr could not decode the bytes
      return DAMAGED;
    }
    if (stored === undefined) return undefined;
    const checked = check(key, stored, this.engine.legacy);
    if ('damage' in checked) {
      this.engine.damaged(this.name, operation, checked.damage);
      return DAMAGED;
    }
    return checked.record;
  }

  /** The values database, for a write: a read-only engine refuses every write. */
  private writable(): Database<unknown, string> {
    if (this.engine.readOnly || this.values === undefined) throw new StorageError('permanent', 'the embedded store is open read-only', { category: 'permission' });
    return this.values;
  }

  async get(key: string): Promise<StoredValue | undefined> {
    if (!this.engine.open) throw new StorageError('unavailable', 'embedded engine is closed');
    let record: StoredRecord | undefined | typeof DAMAGED;
    try {
      record = this.read(key, 'get');
    } catch (err) {
      throw lmdbError(err, 'embedded read');
    }
    if (record === undefined) return undefined;
    if (record === DAMAGED) throw new StorageError('corrupt', `embedded read failed: ${DAMAGED_RECORD}`);
    const now = Date.now();
    if (!isLive(record, now)) return undefined;
    const [expiresAt, version, value] = record;
    return { value, version, ttl: expiresAt === 0 ? null : Math.ceil((expiresAt - now) / 1000) };
  }

  async set(key: string, value: Buffer, ttlSeconds: number, condition?: Condition): Promise<SetOutcome> {
    if (!this.engine.open) throw new StorageError('unavailable', 'embedded engine is closed');
    this.writable();
    const bytes = writeCost(Buffer.byteLength(key), value.length, this.pageSize);
    this.space.admit(bytes); // throws a StorageError `full` at the bound
    const expiresAt = ttlSeconds > 0 ? Date.now() + ttlSeconds * 1000 : 0;
    let outcome: SetOutcome | undefined;
    try {
      outcome = await this.write((): SetOutcome => {
        // A damaged record counts as absent, and the new value replaces it.
        const found = this.read(key, 'set');
        const old = found === DAMAGED ? undefined : found;
        const live = old !== undefined && isLive(old, Date.now()) ? old : undefined;
        if (!conditionHolds(condition, live?.[1])) return { applied: false };
        // A new random version, unless the bytes are those already stored: then they keep theirs.
        const unchanged = live !== undefined && live[2].equals(value);
        const version = unchanged ? live[1] : randomVersion();
        this.replace(key, old, seal(key, expiresAt, version, value));
        return { applied: true, version, unchanged };
      });
    } finally {
      this.space.settle(bytes, outcome?.applied === true);
    }
    return outcome;
  }

  /**
   * Read and rewrite in one write transaction: the same bytes and version, a new expiry.
   * Never refused by the size bound, like a delete: it stores nothing new, and refusing
   * it at the bound would end sessions early.
   */
  async touch(key: string, ttlSeconds: number, edit?: (value: Buffer) => Buffer | undefined): Promise<Touched | undefined> {
    this.writable();
    const version = await this.write((): string | undefined => {
      const old = this.read(key, 'touch');
      const now = Date.now();
      if (old === DAMAGED) throw new StorageError('corrupt', `embedded touch failed: ${DAMAGED_RECORD}`);
      if (old === undefined || !isLive(old, now)) return undefined;
      const bytes = edit === undefined ? old[2] : edit(old[2]);
      if (bytes === undefined) return undefined;
      this.replace(key, old, seal(key, ttlSeconds > 0 ? now + ttlSeconds * 1000 : 0, old[1], bytes));
      return old[1];
    });
    return version === undefined ? undefined : { version, ttl: ttlSeconds > 0 ? ttlSeconds : null };
  }

  /** Never refused by the size bound: LMDB grows the map for it if need be, and frees the pages. */
  async delete(key: string): Promise<void> {
    const values = this.writable();
    const removed = await this.write(() => this.remove(values, key, this.read(key, 'delete')));
    if (removed) this.space.freed();
  }

  /** Every key in one transaction: nothing can interleave. */
  async deleteAll(keys: readonly string[]): Promise<void> {
    const values = this.writable();
    const removed = await this.write(() => keys.map((key) => this.remove(values, key, this.read(key, 'delete'))).includes(true));
    if (removed) this.space.freed();
  }

  /** In one transaction: nothing can interleave. Never refused by the size bound: the old record's room is freed. */
  async relocate(
    from: string,
    to: string,
    rewrite: (value: Buffer) => Buffer,
    ttlSeconds: number,
    edit?: (value: Buffer) => Buffer | undefined,
  ): Promise<Touched | undefined> {
    const values = this.writable();
    const moved = await this.write((): Touched | undefined => {
      const now = Date.now();
      const expiresAt = ttlSeconds > 0 ? now + ttlSeconds * 1000 : 0;
      const ttl = ttlSeconds > 0 ? ttlSeconds : null;
      const source = this.read(from, 'relocate');
      const target = this.read(to, 'relocate');
      if (target === DAMAGED) throw new StorageError('corrupt', `embedded relocate failed: ${DAMAGED_RECORD}`);
      const liveTarget = target !== undefined && isLive(target, now) ? target : undefined;
      const liveSource = source !== undefined && source !== DAMAGED && isLive(source, now) ? source : undefined;
      // Rewritten before anything is written: a rewrite that throws leaves both keys as they were.
      const moved = liveTarget === undefined && liveSource !== undefined ? rewrite(liveSource[2]) : undefined;
      const edited = liveTarget === undefined ? undefined : edit === undefined ? liveTarget[2] : edit(liveTarget[2]);
      if (source !== undefined) this.remove(values, from, source);
      if (liveTarget !== undefined) {
        // A newer write lives under `to`: it is the one touched (unless `edit` refuses it).
        if (edited === undefined) return undefined;
        this.replace(to, liveTarget, seal(to, expiresAt, liveTarget[1], edited));
        return { version: liveTarget[1], ttl };
      }
      if (moved === undefined) return undefined;
      const version = randomVersion();
      this.replace(to, target, seal(to, expiresAt, version, moved));
      return { version, ttl };
    });
    this.space.freed();
    return moved;
  }

  /**
   * Within a write transaction: remove `key`'s record (`old`, as read) and its
   * expiry index entry; false if there was none. A damaged record is removed too (its
   * expiry index entry, if any, is consumed by the sweeper).
   */
  private remove(values: Database<unknown, string>, key: string, old: StoredRecord | undefined | typeof DAMAGED): boolean {
    if (old === undefined) return false;
    if (old !== DAMAGED && old[0] !== 0) this.expiry!.removeSync([old[0], key]);
    values.removeSync(key);
    return true;
  }

  /**
   * Empty the namespace and its expiry index in one child transaction: a failure
   * aborts both, so no value is ever left without its index entry or the reverse.
   * Never refused by the size bound, like a delete.
   */
  async truncate(): Promise<void> {
    const values = this.writable();
    await this.write(() => {
      values.clearSync();
      this.expiry!.clearSync();
    }, true);
    this.space.freed();
  }

  /** Values stored, expired ones not yet swept included (LMDB's own count). */
  entries(): number {
    return this.values === undefined ? 0 : lmdbStats(this.values).entryCount;
  }

  /**
   * Delete up to `limit` entries that expired before `now`: how many index entries it
   * consumed, and how many values it removed (an index entry whose value was rewritten
   * since removes none, nor one whose value is damaged: that stays, refused on read,
   * until a delete or a write replaces it).
   */
  sweepBatch(now: number, limit: number): Promise<{ consumed: number; removed: number }> {
    const values = this.writable();
    return this.write(() => {
      const due = Array.from(this.expiry!.getKeys({ start: [0], end: [now], limit }));
      let removed = 0;
      for (const [expiresAt, key] of due) {
        const record = this.read(key, 'sweep');
        if (record !== undefined && record !== DAMAGED && record[0] === expiresAt) {
          values.removeSync(key);
          removed++;
        }
        this.expiry!.removeSync([expiresAt, key]);
      }
      return { consumed: due.length, removed };
    });
  }

  /**
   * Rewrite up to `limit` format-1 records (record.ts) with their checksum, in one write
   * transaction, walking the keys in order from just after `after` (undefined: the first).
   * Returns the last key looked at and whether the walk reached the end.
   */
  upgradeBatch(after: string | undefined, limit: number): Promise<{ last: string | undefined; rewritten: number; done: boolean }> {
    const values = this.writable();
    return this.write(() => {
      // `start` is inclusive: `after` itself comes first, if it is still there; one more shows whether the walk is done.
      const keys = Array.from(values.getKeys({ ...(after === undefined ? {} : { start: after }), limit: limit + 2 })).filter((k) => k !== after);
      const batch = keys.slice(0, limit);
      let rewritten = 0;
      for (const key of batch) {
        let stored: unknown;
        try {
          stored = values.get(key);
        } catch (err) {
          if (hasLmdbCode(err)) throw err;
          this.engine.damaged(this.name, 'upgrade', 'undecodable');
          continue;
        }
        if (!Array.isArray(stored) || stored.length !== 3) continue; // format 2 already, or damaged: a read reports it
        const checked = check(key, stored, true);
        if ('damage' in checked) {
          this.engine.damaged(this.name, 'upgrade', checked.damage);
          continue;
        }
        values.putSync(key, checked.record); // the same expiry, version and value, with the checksum
        rewritten++;
      }
      return { last: batch.at(-1) ?? after, rewritten, done: keys.length <= limit };
    });
  }

  /**
   * One page of the namespace's live records, for `firkin export`: in key order from just
   * after `after` (undefined: the first key), at most `limit` keys looked at and about
   * `maxBytes` of keys and values returned, all read in one read transaction (this
   * process's, renewed at the next event turn: a walk in pages never holds one snapshot
   * for long, so the writers' freed pages are not pinned). Expired records are left out;
   * damaged ones are counted (and reported), never returned. Reads only.
   */
  scan(after: string | undefined, limit: number, maxBytes: number, now = Date.now()): ScanPage {
    if (this.values === undefined) return { records: [], last: after, done: true, damaged: 0 };
    const records: ScannedRecord[] = [];
    let last = after;
    let looked = 0;
    let bytes = 0;
    let damaged = 0;
    // `start` is inclusive: `after` itself comes first, if it is still there.
    for (const key of this.values.getKeys(after === undefined ? {} : { start: after })) {
      if (key === after) continue;
      if (looked >= limit || bytes >= maxBytes) return { records, last, done: false, damaged };
      looked++;
      last = key;
      const record = this.read(key, 'export');
      if (record === DAMAGED) {
        damaged++;
        continue;
      }
      if (record === undefined || !isLive(record, now)) continue;
      records.push({ key, value: record[2], expiresAt: record[0] === 0 ? null : record[0] });
      bytes += key.length + record[2].length;
    }
    return { records, last, done: true, damaged };
  }

  /**
   * Read every record of the namespace and check it (`firkin store check`): how many
   * there are, how many are damaged (by what), unverified format-1 ones, and expired
   * ones the sweeper has not removed yet. Reads only; damage is counted, not reported.
   */
  verify(now = Date.now()): { records: number; damaged: Record<Damage, number>; legacy: number; expired: number } {
    const report = { records: 0, damaged: { undecodable: 0, shape: 0, checksum: 0 }, legacy: 0, expired: 0 };
    if (this.values === undefined) return report;
    for (const key of this.values.getKeys()) {
      report.records++;
      let stored: unknown;
      try {
        stored = this.values.get(key);
      } catch (err) {
        if (hasLmdbCode(err)) throw err;
        report.damaged.undecodable++;
        continue;
      }
      const checked = check(key, stored, this.engine.legacy);
      if ('damage' in checked) report.damaged[checked.damage]++;
      else {
        if (checked.legacy) report.legacy++;
        if (!isLive(checked.record, now)) report.expired++;
      }
    }
    return report;
  }

  /** Within a write transaction: store `record` in place of `old`, moving its expiry index entry. */
  private replace(key: string, old: StoredRecord | undefined, record: StoredRecord): void {
    if (old !== undefined && old[0] !== 0) this.expiry!.removeSync([old[0], key]);
    this.values!.putSync(key, record);
    if (record[0] !== 0) this.expiry!.putSync([record[0], key], 1);
  }

  /**
   * Run `body` in a write transaction and resolve once the commit is flushed to disk.
   * `abortable`: as a child transaction, undone whole if `body` throws (lmdb-js commits
   * what a plain transaction callback wrote before it threw, with its batch).
   */
  private async write<T>(body: () => T, abortable = false): Promise<T> {
    if (!this.engine.open) throw new StorageError('unavailable', 'embedded engine is closed');
    const values = this.writable();
    let result: T;
    try {
      result = await (abortable ? values.childTransaction(body) : values.transaction(body));
      // lmdb resolves `flushed` only on success: bound the wait so a failing fsync answers 503, not never.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        this.root.flushed,
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`commit not flushed within ${FLUSH_TIMEOUT_MS} ms`)), FLUSH_TIMEOUT_MS);
        }),
      ]).finally(() => clearTimeout(timer));
    } catch (err) {
      // lmdb-js rejects a failed commit with a message only; the error with LMDB's code follows (base/internals.ts).
      throw lmdbError((await commitFailure(err)) ?? err, 'embedded write');
    }
    return result;
  }
}
