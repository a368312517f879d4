/**
 * One namespace's table on Cassandra, through the engine's driver client.
 *
 * A namespace runs in one of two write modes (docs/cassandra.md, "Writes"):
 *
 * - plain (default, Kask's): set is Kask's own `INSERT … USING TTL` at LOCAL_QUORUM,
 *   delete a `DELETE` at EACH_QUORUM, both with client-side timestamps (even ones:
 *   timestamps.ts); touch reads the value and its write time and writes the same
 *   bytes back stamped 1 µs later, so a later write or delete still wins.
 *   The server refuses conditional requests here: a lightweight transaction takes its
 *   timestamp from the coordinator's Paxos ballot, and mixed with client-timestamped
 *   mutations on the same key, clock skew can make an acknowledged write invisible.
 *   (The store still does conditional sets as below, for the engine's own tests.)
 * - conditional writes (`conditional_writes: true`): every write and delete is a
 *   lightweight transaction, so all of a key's mutations carry ballot timestamps in
 *   Paxos order:
 *   - set: `UPDATE … IF value != 0x` (applies to any value but the empty blob, which
 *     Firkin never stores, and to an absent key; the empty blob gets `IF value = 0x`);
 *   - delete: `DELETE … IF value != 0x` likewise, committed at EACH_QUORUM;
 *   - add (If-None-Match: *): `UPDATE … IF value = null`;
 *   - replace (If-Match: *): `UPDATE … IF value != null`;
 *   - compare-and-set (If-Match: "v"): the version is derived from the bytes, so the
 *     current bytes are read at the serial consistency and the update is conditional
 *     on them: `UPDATE … IF value = <those bytes>`. No schema change is needed;
 *   - touch: the same compare-and-set, with the bytes read as the new value too.
 *   Conditions test the value cell, not the row: a row that Kask's INSERT left with a
 *   live row marker but an expired value is absent, as a GET says.
 *
 * Serial consistency per namespace: LOCAL_SERIAL (default) or SERIAL.
 */
import cassandra from 'cassandra-driver';
import {
  StorageOutcomeUnknownError,
  StorageUnavailableError,
  type Condition,
  type KeyValueStore,
  type NamespaceSpec,
  type SetOutcome,
  type StoredValue,
  type Touched,
} from '../engine.js';
import { conditionHolds, valueVersion } from '../version.js';
import type { CassandraEngine } from './cassandra-engine.js';
import { CONSISTENCY } from './consistency.js';
import { truncateMayHaveApplied } from './errors.js';
import { storableTtl } from './expiry.js';
import { touchTimestamp } from './timestamps.js';

/** A key no client can send (the server refuses control characters in keys): the readiness probe reads it. */
const PROBE_KEY = '\u0000firkin-readiness-probe';
/**
 * How long the driver waits for a TRUNCATE: a little longer than Cassandra's own
 * `truncate_request_timeout` (60 s by default), so the node's answer arrives first.
 */
const TRUNCATE_TIMEOUT_MS = 65_000;

/** The value no write stores (Firkin refuses empty values): `IF value != 0x` holds for every other state of a key. */
const NEVER_STORED = Buffer.alloc(0);
/** Attempts of a conditional-mode set or delete that finds exactly the empty blob stored (only Kask could have written it). */
const UNCONDITIONAL_ATTEMPTS = 4;
/** Attempts of a conditional-mode touch: the first, and one more if the value changed in between. */
const TOUCH_ATTEMPTS = 2;

type Statement =
  | 'get'
  | 'serialRead'
  | 'insert'
  | 'touchRead'
  | 'touch'
  | 'delete'
  | 'add'
  | 'replace'
  | 'cas'
  | 'put'
  | 'paxosDelete'
  | 'paxosDeleteEmpty'
  | 'probe'
  | 'truncate';

export class CassandraStore implements KeyValueStore {
  private readonly q: Record<Statement, string>;
  private readonly conditionalWrites: boolean;
  private readonly serial: number;

  constructor(
    private readonly engine: CassandraEngine,
    private readonly table: string,
    spec: NamespaceSpec,
  ) {
    this.conditionalWrites = spec.conditionalWrites ?? false;
    this.serial = spec.serialConsistency === 'serial' ? CONSISTENCY.crossDcSerial : CONSISTENCY.serial;
    const update = `UPDATE ${table} USING TTL ? SET value = ? WHERE key = ?`;
    this.q = {
      get: `SELECT value, TTL(value) AS ttl FROM ${table} WHERE key = ?`,
      serialRead: `SELECT value FROM ${table} WHERE key = ?`,
      insert: `INSERT INTO ${table} (key, value) VALUES (?, ?) USING TTL ?`,
      touchRead: `SELECT value, WRITETIME(value) AS written FROM ${table} WHERE key = ?`,
      touch: `INSERT INTO ${table} (key, value) VALUES (?, ?) USING TTL ? AND TIMESTAMP ?`,
      delete: `DELETE FROM ${table} WHERE key = ?`,
      add: `${update} IF value = null`,
      replace: `${update} IF value != null`,
      cas: `${update} IF value = ?`,
      put: `${update} IF value != ?`,
      paxosDelete: `DELETE FROM ${table} WHERE key = ? IF value != ?`,
      paxosDeleteEmpty: `DELETE FROM ${table} WHERE key = ? IF value = ?`,
      probe: `SELECT key FROM ${table} WHERE key = ?`,
      truncate: `TRUNCATE TABLE ${table}`,
    };
  }

  private run(statement: Statement, params: unknown[], options: cassandra.QueryOptions, lwt = false): Promise<cassandra.types.ResultSet> {
    return this.engine.execute(this.q[statement], params, options, { lwt, where: `${this.table} ${statement}` });
  }

  /** Options of a lightweight transaction committed at `consistency`. */
  private lwt(consistency: number): cassandra.QueryOptions {
    return { consistency, serialConsistency: this.serial };
  }

  async get(key: string): Promise<StoredValue | undefined> {
    // Idempotent: if the coordinator dies mid-request, the driver retries on another node
    // instead of failing the request (a read, a plain write or a delete can safely run twice).
    const rs = await this.run('get', [key], { consistency: CONSISTENCY.read, isIdempotent: true });
    const row = rs.first();
    const value = row?.get('value') as Buffer | null | undefined;
    if (value === null || value === undefined) return undefined;
    const ttl = row.get('ttl') as number | null;
    return { value, version: valueVersion(value), ttl: ttl === null ? null : Math.max(ttl, 1) };
  }

  async set(key: string, value: Buffer, requestedTtl: number, condition?: Condition): Promise<SetOutcome> {
    const ttlSeconds = storableTtl(requestedTtl);
    const version = valueVersion(value);
    const write = this.lwt(CONSISTENCY.write);
    const applied = (previousVersion?: string | null): SetOutcome => ({ applied: true, version, previousVersion });
    switch (condition?.kind) {
      case undefined:
        if (this.conditionalWrites) {
          await this.unconditionally('put', 'cas', [ttlSeconds, value, key], write);
          return applied();
        }
        await this.run('insert', [key, value, ttlSeconds], { consistency: CONSISTENCY.write, isIdempotent: true });
        return applied();
      case 'absent': {
        const rs = await this.run('add', [ttlSeconds, value, key], write, true);
        return rs.wasApplied() ? applied(null) : { applied: false };
      }
      case 'present': {
        const rs = await this.run('replace', [ttlSeconds, value, key], write, true);
        return rs.wasApplied() ? applied() : { applied: false };
      }
      case 'version': {
        // Read the current bytes linearizably, then update only if they are still those bytes.
        const rs = await this.run('serialRead', [key], { consistency: this.serial });
        const current = rs.first()?.get('value') as Buffer | null | undefined;
        if (current === null || current === undefined) return { applied: false };
        const currentVersion = valueVersion(current);
        if (!conditionHolds(condition, currentVersion)) return { applied: false };
        const cas = await this.run('cas', [ttlSeconds, value, key, current], write, true);
        return cas.wasApplied() ? applied(currentVersion) : { applied: false };
      }
    }
  }

  /**
   * Plain namespaces (no lightweight transaction, as Kask's writes): read the value and its
   * write time, then write the same bytes back stamped 1 µs later (timestamps.ts), so any
   * later write or delete still wins. Conditional-writes namespaces: see touchThroughPaxos.
   */
  async touch(key: string, requestedTtl: number): Promise<Touched | undefined> {
    const ttlSeconds = storableTtl(requestedTtl);
    const touched = (value: Buffer): Touched => ({ version: valueVersion(value), ttl: ttlSeconds === 0 ? null : ttlSeconds });
    if (this.conditionalWrites) {
      const value = await this.touchThroughPaxos(key, ttlSeconds);
      return value === undefined ? undefined : touched(value);
    }
    const row = (await this.run('touchRead', [key], { consistency: CONSISTENCY.read, isIdempotent: true })).first();
    const value = row?.get('value') as Buffer | null | undefined;
    if (value === null || value === undefined) return undefined;
    const written = row.get('written') as cassandra.types.Long;
    // Idempotent: the same bytes at the same timestamp, however often it is applied.
    await this.run('touch', [key, value, ttlSeconds, touchTimestamp(written)], { consistency: CONSISTENCY.write, isIdempotent: true });
    return touched(value);
  }

  /**
   * The touched bytes, or undefined when absent: `UPDATE … IF value = <the bytes read>`, so a
   * value replaced or deleted meanwhile is left alone. The failed transaction answers with
   * the current bytes: one more attempt touches those; a second lost race answers 503
   * (retrying is safe: a touch repeated only extends the lifetime again).
   */
  private async touchThroughPaxos(key: string, ttlSeconds: number): Promise<Buffer | undefined> {
    const rs = await this.run('serialRead', [key], { consistency: this.serial });
    let current = rs.first()?.get('value') as Buffer | null | undefined;
    try {
      for (let attempt = 0; attempt < TOUCH_ATTEMPTS; attempt++) {
        if (current === null || current === undefined) return undefined;
        const cas = await this.run('cas', [ttlSeconds, current, key, current], this.lwt(CONSISTENCY.write), true);
        if (cas.wasApplied()) return current;
        current = cas.first()?.get('value') as Buffer | null | undefined;
      }
    } catch (err) {
      if (err instanceof StorageOutcomeUnknownError) throw new StorageUnavailableError('Cassandra request timed out', { cause: err.cause });
      throw err;
    }
    if (current === null || current === undefined) return undefined;
    throw new StorageUnavailableError('the key changed between every attempt of a touch');
  }

  async delete(key: string): Promise<void> {
    if (this.conditionalWrites) {
      // Committed at EACH_QUORUM: a 204 means every data centre has the tombstone (QUORUM where
      // the keyspace has no data centres: SimpleStrategy).
      await this.unconditionally('paxosDelete', 'paxosDeleteEmpty', [key], this.lwt(this.engine.paxosDeleteConsistency()));
      return;
    }
    await this.run('delete', [key], { consistency: CONSISTENCY.delete, isIdempotent: true });
  }

  /**
   * A write or delete that must apply, as a lightweight transaction: `IF value != 0x`
   * holds unless the stored value is the empty blob, for which `IF value = 0x` holds.
   * Its client sent no condition, so a timeout is an ordinary 503: repeating an
   * unconditional write or delete is safe.
   */
  private async unconditionally(
    statement: 'put' | 'paxosDelete',
    whenEmpty: 'cas' | 'paxosDeleteEmpty',
    params: unknown[],
    options: cassandra.QueryOptions,
  ): Promise<void> {
    try {
      for (let attempt = 0; attempt < UNCONDITIONAL_ATTEMPTS; attempt++) {
        const rs = await this.run(attempt % 2 === 0 ? statement : whenEmpty, [...params, NEVER_STORED], options, true);
        if (rs.wasApplied()) return;
      }
    } catch (err) {
      if (err instanceof StorageOutcomeUnknownError) throw new StorageUnavailableError('Cassandra request timed out', { cause: err.cause });
      throw err;
    }
    throw new StorageUnavailableError('the key changed between every attempt of an unconditional write');
  }

  /**
   * TRUNCATE the namespace's table. Cassandra runs it on every node and refuses it up
   * front (unavailable: nothing removed) unless all of them are up. Not idempotent for
   * the driver, so never re-sent by it; a timeout may leave some nodes truncated.
   */
  async truncate(): Promise<void> {
    try {
      await this.run('truncate', [], { readTimeout: TRUNCATE_TIMEOUT_MS, prepare: false });
    } catch (err) {
      if (err instanceof StorageUnavailableError && truncateMayHaveApplied(err.cause)) {
        throw new StorageOutcomeUnknownError('TRUNCATE did not finish in time: it may have applied on some nodes only', { cause: err.cause });
      }
      throw err;
    }
  }

  async probe(timeoutMs: number): Promise<void> {
    await this.run('probe', [PROBE_KEY], { consistency: CONSISTENCY.read, readTimeout: timeoutMs });
  }
}
