/**
 * A namespace with `conditional_writes: true` on Cassandra: every write and delete is
 * a lightweight transaction, so all of a key's mutations carry ballot timestamps in
 * Paxos order, and conditions (If-Match, If-None-Match) are served:
 *
 * - set: `UPDATE … IF value != 0x` (applies to any value but the empty blob, which
 *   Firkin never stores, and to an absent key; the empty blob gets `IF value = 0x`);
 * - delete: `DELETE … IF value != 0x` likewise, committed at EACH_QUORUM;
 * - add (If-None-Match: *): `UPDATE … IF value = null`;
 * - replace (If-Match: *): `UPDATE … IF value != null`;
 * - compare-and-set (If-Match: "v"): the version is derived from the bytes, so the
 *   current bytes are read at the serial consistency and the update is conditional on
 *   them: `UPDATE … IF value = <those bytes>`. No schema change is needed;
 * - touch: the same compare-and-set, with the bytes read as the new value too.
 *
 * Conditions test the value cell, not the row: a row that Kask's INSERT left with a
 * live row marker but an expired value is absent, as a GET says. Serial consistency
 * per namespace: LOCAL_SERIAL (default) or SERIAL.
 *
 * The empty blob is absent here, for every read and condition: `deleteAll` of a sealed
 * namespace's copies leaves one under the active key as a deletion marker, so that a
 * relocation under way (whose `IF value = null` it fails) cannot bring the session back.
 */
import type cassandra from 'cassandra-driver';
import type { Condition, NamespaceSpec, SetOutcome, Touched } from '../engine.js';
import { StorageError } from '../errors.js';
import { conditionHolds } from '../version.js';
import { CassandraTable, type CqlSession, type TableName } from './cassandra-store.js';
import { CONSISTENCY } from './consistency.js';
import { classify } from './errors.js';
import { storableTtl } from './expiry.js';

/** The value no write stores (Firkin refuses empty values): `IF value != 0x` holds for every other state of a key. */
const NEVER_STORED = Buffer.alloc(0);
/** Attempts of a set or delete that finds exactly the empty blob stored (only Kask could have written it). */
const UNCONDITIONAL_ATTEMPTS = 4;
/** Attempts of a touch: the first, and one more if the value changed in between. */
const TOUCH_ATTEMPTS = 2;

type Statement = 'serialRead' | 'add' | 'replace' | 'cas' | 'put' | 'paxosDelete' | 'paxosDeleteEmpty' | 'casDelete';

/** How long a deletion marker lasts: longer than any relocation under way can take (a request's own deadline). */
const MARKER_TTL_SECONDS = 600;

const absent = (value: Buffer | null | undefined): value is null | undefined => value === null || value === undefined || value.length === 0;

export class PaxosStore extends CassandraTable<Statement> {
  readonly acceptsConditions = true;
  protected override readonly emptyIsAbsent = true;
  private readonly serial: number;

  constructor(session: CqlSession, name: TableName, spec: NamespaceSpec) {
    const table = name.quoted;
    const update = `UPDATE ${table} USING TTL ? SET value = ? WHERE key = ?`;
    super(session, name, {
      serialRead: `SELECT value FROM ${table} WHERE key = ?`,
      add: `${update} IF value = null`,
      replace: `${update} IF value != null AND value != ?`,
      cas: `${update} IF value = ?`,
      put: `${update} IF value != ?`,
      paxosDelete: `DELETE FROM ${table} WHERE key = ? IF value != ?`,
      paxosDeleteEmpty: `DELETE FROM ${table} WHERE key = ? IF value = ?`,
      casDelete: `DELETE FROM ${table} WHERE key = ? IF value = ?`,
    });
    this.serial = spec.serialConsistency === 'serial' ? CONSISTENCY.crossDcSerial : CONSISTENCY.serial;
  }

  /** Options of a lightweight transaction committed at `consistency`. */
  private lwt(consistency: number): cassandra.QueryOptions {
    return { consistency, serialConsistency: this.serial };
  }

  async set(key: string, value: Buffer, requestedTtl: number, condition?: Condition): Promise<SetOutcome> {
    const ttlSeconds = storableTtl(requestedTtl);
    const secret = await this.secret();
    const version = this.version(secret, key, value);
    const write = this.lwt(CONSISTENCY.write);
    const applied = (unchanged?: boolean): SetOutcome => ({ applied: true, version, unchanged });
    switch (condition?.kind) {
      case undefined:
        await this.unconditionally('put', 'cas', [ttlSeconds, value, key], write);
        return applied();
      case 'absent': {
        const rs = await this.run('add', [ttlSeconds, value, key], write, true);
        if (rs.wasApplied()) return applied(false);
        // A deletion marker is absent too: add over it, if it is still there.
        if (!absent(rs.first()?.get('value') as Buffer | null | undefined)) return { applied: false };
        const over = await this.run('cas', [ttlSeconds, value, key, NEVER_STORED], write, true);
        return over.wasApplied() ? applied(false) : { applied: false };
      }
      case 'present': {
        const rs = await this.run('replace', [ttlSeconds, value, key, NEVER_STORED], write, true);
        return rs.wasApplied() ? applied() : { applied: false };
      }
      case 'version': {
        // Read the current bytes linearizably, then update only if they are still those bytes.
        const rs = await this.run('serialRead', [key], { consistency: this.serial });
        const current = rs.first()?.get('value') as Buffer | null | undefined;
        if (absent(current)) return { applied: false };
        const currentVersion = this.version(secret, key, current);
        if (!conditionHolds(condition, currentVersion)) return { applied: false };
        const cas = await this.run('cas', [ttlSeconds, value, key, current], write, true);
        return cas.wasApplied() ? applied(current.equals(value)) : { applied: false };
      }
    }
  }

  /**
   * `UPDATE … IF value = <the bytes read>`, so a value replaced or deleted meanwhile is
   * left alone. The failed transaction answers with the current bytes: one more attempt
   * touches those; a second lost race answers 503 (retrying is safe: a touch repeated
   * only extends the lifetime again).
   */
  async touch(key: string, requestedTtl: number, edit?: (value: Buffer) => Buffer | undefined): Promise<Touched | undefined> {
    const ttlSeconds = storableTtl(requestedTtl);
    const secret = await this.secret();
    const rs = await this.run('serialRead', [key], { consistency: this.serial });
    let current = rs.first()?.get('value') as Buffer | null | undefined;
    try {
      for (let attempt = 0; attempt < TOUCH_ATTEMPTS; attempt++) {
        if (absent(current)) return undefined;
        const bytes = edit === undefined ? current : edit(current);
        if (bytes === undefined) return undefined;
        const cas = await this.run('cas', [ttlSeconds, bytes, key, current], this.lwt(CONSISTENCY.write), true);
        if (cas.wasApplied()) return { version: this.version(secret, key, bytes), ttl: ttlSeconds === 0 ? null : ttlSeconds };
        current = cas.first()?.get('value') as Buffer | null | undefined;
      }
    } catch (err) {
      throw asRetryable(err);
    }
    if (absent(current)) return undefined;
    throw new StorageError('unavailable', 'the key changed between every attempt of a touch');
  }

  /**
   * The first key gets a deletion marker (the empty blob, for MARKER_TTL_SECONDS), the
   * others are deleted, every one through Paxos and committed at EACH_QUORUM. A
   * relocation that read an old copy before this ran then fails to add under the first
   * (`IF value = null`), so it cannot bring the session back.
   */
  async deleteAll(keys: readonly string[]): Promise<void> {
    const [first, ...others] = keys;
    if (first === undefined) return;
    if (others.length === 0) return this.delete(first);
    await this.unconditionally('put', 'cas', [MARKER_TTL_SECONDS, NEVER_STORED, first], this.lwt(this.paxosDeleteConsistency()));
    await Promise.all(others.map((key) => this.delete(key)));
  }

  /**
   * Read `from` linearizably, add its rewritten bytes under `to` only if `to` holds
   * nothing (`IF value = null`: not a newer write, not a deletion marker), then remove
   * `from` only if it still holds those bytes. A newer write under `to` is touched
   * instead; a marker under `to` means the session was deleted: `from` is removed and
   * nothing is touched.
   */
  async relocate(
    from: string,
    to: string,
    rewrite: (value: Buffer) => Buffer,
    requestedTtl: number,
    edit?: (value: Buffer) => Buffer | undefined,
  ): Promise<Touched | undefined> {
    const ttlSeconds = storableTtl(requestedTtl);
    const secret = await this.secret();
    const source = (await this.run('serialRead', [from], { consistency: this.serial })).first()?.get('value') as Buffer | null | undefined;
    if (absent(source)) return this.touch(to, requestedTtl, edit);
    const moved = rewrite(source);
    try {
      const add = await this.run('add', [ttlSeconds, moved, to], this.lwt(CONSISTENCY.write), true);
      const removeSource = (): Promise<unknown> => this.run('casDelete', [from, source], this.lwt(this.paxosDeleteConsistency()), true);
      if (add.wasApplied()) {
        await removeSource();
        return { version: this.version(secret, to, moved), ttl: ttlSeconds === 0 ? null : ttlSeconds };
      }
      await removeSource();
      if (absent(add.first()?.get('value') as Buffer | null | undefined)) return undefined; // deleted meanwhile
      return await this.touch(to, requestedTtl, edit);
    } catch (err) {
      throw asRetryable(err);
    }
  }

  async delete(key: string): Promise<void> {
    // Committed at EACH_QUORUM: a 204 means every data centre has the tombstone (QUORUM where
    // the keyspace has no data centres: SimpleStrategy).
    await this.unconditionally('paxosDelete', 'paxosDeleteEmpty', [key], this.lwt(this.paxosDeleteConsistency()));
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
      throw asRetryable(err);
    }
    throw new StorageError('unavailable', 'the key changed between every attempt of an unconditional write');
  }
}

/**
 * A request the client sent without a condition (a plain write, delete or touch) whose
 * Paxos round may or may not have applied is safe to repeat: its unknown outcome is an
 * ordinary timeout, or an ordinary failure (unavailable at the commit, a server error).
 */
function asRetryable(err: unknown): unknown {
  if (!(err instanceof StorageError) || err.kind !== 'outcome-unknown') return err;
  const c = classify(err.cause);
  const timedOut = c.kind === 'transient' && c.timeout;
  return new StorageError(timedOut ? 'timeout' : 'unavailable', timedOut ? 'Cassandra did not answer in time' : 'Cassandra request failed', { cause: err.cause });
}
