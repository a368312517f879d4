/**
 * One namespace of the embedded engine (lmdb-engine.ts describes the layout): its
 * values and their expiry index, each write in one LMDB write transaction that is
 * acknowledged once flushed to disk.
 */
import type { Database, RootDatabase } from 'lmdb';
import { commitFailure, lmdbStats } from '../../base/internals.js';
import type { Condition, EngineStore, SetOutcome, StoredValue, Touched } from '../engine.js';
import { StorageError } from '../errors.js';
import { conditionHolds, randomVersion } from '../version.js';
import { hasLmdbCode, lmdbError } from './errors.js';
import { writeCost, type SpaceBudget } from './space.js';

/** On-disk record: [expiresAtMs (0: never), version, value]. */
type StoredRecord = [number, string, Buffer];
type ExpiryKey = [number, string];

/** A write whose commit has not been flushed after this long is reported unavailable (503). */
const FLUSH_TIMEOUT_MS = 10_000;

/** Whether a record is still live at `now` (ms). */
const isLive = (record: StoredRecord, now: number): boolean => record[0] === 0 || record[0] > now;

/** A record as this engine writes it; anything else read back is damaged. */
const wellFormed = (record: unknown): record is StoredRecord =>
  Array.isArray(record) && record.length === 3 && typeof record[0] === 'number' && typeof record[1] === 'string' && Buffer.isBuffer(record[2]);

/** A record that does not decode, or is not of this engine's shape: never served. */
const DAMAGED = Symbol('damaged');
const DAMAGED_SHAPE = "a stored record does not decode or is not of this engine's shape";

/** What the store shares with its engine (lmdb-engine.ts). */
export interface EngineState {
  /** False once the engine is closed: LMDB must not be touched after that. */
  readonly open: boolean;
}

export class EmbeddedStore implements EngineStore {
  readonly acceptsConditions = true;
  private readonly values: Database<StoredRecord, string>;
  private readonly expiry: Database<number, ExpiryKey>;

  constructor(
    private readonly root: RootDatabase,
    name: string,
    private readonly engine: EngineState,
    private readonly space: SpaceBudget,
    private readonly pageSize: number,
  ) {
    this.values = root.openDB<StoredRecord, string>({ name: `ns:${name}` });
    this.expiry = root.openDB<number, ExpiryKey>({ name: `exp:${name}` });
  }

  /**
   * The record of `key` (inside a transaction or not): undefined when absent, DAMAGED
   * when it does not decode or is not of this engine's shape. LMDB's own failures throw.
   */
  private read(key: string): StoredRecord | undefined | typeof DAMAGED {
    let record: unknown;
    try {
      record = this.values.get(key);
    } catch (err) {
      if (hasLmdbCode(err)) throw err;
      return DAMAGED; // msgpackr could not decode the bytes
    }
    if (record === undefined) return undefined;
    return wellFormed(record) ? record : DAMAGED;
  }

  async get(key: string): Promise<StoredValue | undefined> {
    if (!this.engine.open) throw new StorageError('unavailable', 'embedded engine is closed');
    let record: StoredRecord | undefined | typeof DAMAGED;
    try {
      record = this.read(key);
    } catch (err) {
      throw lmdbError(err, 'embedded read');
    }
    if (record === undefined) return undefined;
    if (record === DAMAGED) throw new StorageError('corrupt', `embedded read failed: ${DAMAGED_SHAPE}`);
    const now = Date.now();
    if (!isLive(record, now)) return undefined;
    const [expiresAt, version, value] = record;
    return { value, version, ttl: expiresAt === 0 ? null : Math.ceil((expiresAt - now) / 1000) };
  }

  async set(key: string, value: Buffer, ttlSeconds: number, condition?: Condition): Promise<SetOutcome> {
    if (!this.engine.open) throw new StorageError('unavailable', 'embedded engine is closed');
    const bytes = writeCost(Buffer.byteLength(key), value.length, this.pageSize);
    this.space.admit(bytes); // throws a StorageError `full` at the bound
    const expiresAt = ttlSeconds > 0 ? Date.now() + ttlSeconds * 1000 : 0;
    let outcome: SetOutcome | undefined;
    try {
      outcome = await this.write((): SetOutcome => {
        // A damaged record counts as absent, and the new value replaces it.
        const found = this.read(key);
        const old = found === DAMAGED ? undefined : found;
        const live = old !== undefined && isLive(old, Date.now()) ? old : undefined;
        if (!conditionHolds(condition, live?.[1])) return { applied: false };
        // A new random version, unless the bytes are those already stored: then they keep theirs.
        const unchanged = live !== undefined && live[2].equals(value);
        const version = unchanged ? live[1] : randomVersion();
        this.replace(key, old, [expiresAt, version, value]);
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
    const version = await this.write((): string | undefined => {
      const old = this.read(key);
      const now = Date.now();
      if (old === DAMAGED) throw new StorageError('corrupt', `embedded touch failed: ${DAMAGED_SHAPE}`);
      if (old === undefined || !isLive(old, now)) return undefined;
      const bytes = edit === undefined ? old[2] : edit(old[2]);
      if (bytes === undefined) return undefined;
      this.replace(key, old, [ttlSeconds > 0 ? now + ttlSeconds * 1000 : 0, old[1], bytes]);
      return old[1];
    });
    return version === undefined ? undefined : { version, ttl: ttlSeconds > 0 ? ttlSeconds : null };
  }

  /** Never refused by the size bound: LMDB grows the map for it if need be, and frees the pages. */
  async delete(key: string): Promise<void> {
    const removed = await this.write(() => this.remove(key));
    if (removed) this.space.freed();
  }

  /** Every key in one transaction: nothing can interleave. */
  async deleteAll(keys: readonly string[]): Promise<void> {
    const removed = await this.write(() => keys.map((key) => this.remove(key)).includes(true));
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
    const moved = await this.write((): Touched | undefined => {
      const now = Date.now();
      const expiresAt = ttlSeconds > 0 ? now + ttlSeconds * 1000 : 0;
      const ttl = ttlSeconds > 0 ? ttlSeconds : null;
      const source = this.read(from);
      const target = this.read(to);
      if (target === DAMAGED) throw new StorageError('corrupt', `embedded relocate failed: ${DAMAGED_SHAPE}`);
      const liveTarget = target !== undefined && isLive(target, now) ? target : undefined;
      const liveSource = source !== undefined && source !== DAMAGED && isLive(source, now) ? source : undefined;
      // Rewritten before anything is written: a rewrite that throws leaves both keys as they were.
      const moved = liveTarget === undefined && liveSource !== undefined ? rewrite(liveSource[2]) : undefined;
      const edited = liveTarget === undefined ? undefined : edit === undefined ? liveTarget[2] : edit(liveTarget[2]);
      if (source !== undefined) this.remove(from);
      if (liveTarget !== undefined) {
        // A newer write lives under `to`: it is the one touched (unless `edit` refuses it).
        if (edited === undefined) return undefined;
        this.replace(to, liveTarget, [expiresAt, liveTarget[1], edited]);
        return { version: liveTarget[1], ttl };
      }
      if (moved === undefined) return undefined;
      const version = randomVersion();
      this.replace(to, target, [expiresAt, version, moved]);
      return { version, ttl };
    });
    this.space.freed();
    return moved;
  }

  /** Within a write transaction: remove `key`'s record and its expiry index entry; false if there was none. */
  private remove(key: string): boolean {
    const old = this.read(key);
    if (old === undefined) return false;
    // A damaged record is removed too (its expiry index entry, if any, is consumed by the sweeper).
    if (old !== DAMAGED && old[0] !== 0) this.expiry.removeSync([old[0], key]);
    this.values.removeSync(key);
    return true;
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
    return lmdbStats(this.values).entryCount;
  }

  /**
   * Delete up to `limit` entries that expired before `now`: how many index entries it
   * consumed, and how many values it removed (an index entry whose value was rewritten
   * since removes none, nor one whose value is damaged: that stays, refused on read,
   * until a delete or a write replaces it).
   */
  sweepBatch(now: number, limit: number): Promise<{ consumed: number; removed: number }> {
    return this.write(() => {
      const due = Array.from(this.expiry.getKeys({ start: [0], end: [now], limit }));
      let removed = 0;
      for (const [expiresAt, key] of due) {
        const record = this.read(key);
        if (record !== undefined && record !== DAMAGED && record[0] === expiresAt) {
          this.values.removeSync(key);
          removed++;
        }
        this.expiry.removeSync([expiresAt, key]);
      }
      return { consumed: due.length, removed };
    });
  }

  /** Within a write transaction: store `record` in place of `old`, moving its expiry index entry. */
  private replace(key: string, old: StoredRecord | undefined, record: StoredRecord): void {
    if (old !== undefined && old[0] !== 0) this.expiry.removeSync([old[0], key]);
    this.values.putSync(key, record);
    if (record[0] !== 0) this.expiry.putSync([record[0], key], 1);
  }

  /**
   * Run `body` in a write transaction and resolve once the commit is flushed to disk.
   * `abortable`: as a child transaction, undone whole if `body` throws (lmdb-js commits
   * what a plain transaction callback wrote before it threw, with its batch).
   */
  private async write<T>(body: () => T, abortable = false): Promise<T> {
    if (!this.engine.open) throw new StorageError('unavailable', 'embedded engine is closed');
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
      // lmdb-js rejects a failed commit with a message only; the error with LMDB's code follows (base/internals.ts).
      throw lmdbError((await commitFailure(err)) ?? err, 'embedded write');
    }
    return result;
  }
}
