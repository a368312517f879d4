/**
 * A plain (Kask-mode, the default) namespace on Cassandra: Kask's own statements.
 *
 * - set: `INSERT … USING TTL` at LOCAL_QUORUM; delete: `DELETE` at EACH_QUORUM; both
 *   with client-side timestamps (even ones: timestamps.ts).
 * - touch reads the value and its write time and writes the same bytes back stamped
 *   1 µs later, so a later write or delete still wins.
 *
 * It takes no condition: the server refuses conditional requests on such a namespace
 * (400 conditional-writes-disabled), and a condition reaching this store is a bug
 * (see cassandra-store.ts for why the modes must not mix).
 */
import cassandra from 'cassandra-driver';
import type { Condition, NamespaceSpec, SetOutcome, Touched } from '../engine.js';
import { CassandraTable, Written, type CqlSession, type TableName } from './cassandra-store.js';
import { CONSISTENCY, STATEMENT_OPTIONS } from './consistency.js';
import { storableTtl } from './expiry.js';
import { touchTimestamp } from './timestamps.js';

type Statement = 'insert' | 'touchRead' | 'touch' | 'delete' | 'deleteAt';

/**
 * How far before its read an import's write is stamped (addIfAbsent). Plain namespaces
 * order a key's writes by client-side timestamps, so the import's write must lose to any
 * write or delete a server makes after the read, even from a host whose clock is behind
 * the importing host's: it covers a difference of up to 1 s between the importing host's
 * clock and any server's (NTP keeps them within milliseconds; docs/operations.md). Stamping
 * early costs nothing the import should keep: the read found the key empty, and the only
 * older mutation that can now win is a delete made in the second before the read (that
 * session stays deleted, though the import counts it added).
 */
export const IMPORT_CLOCK_MARGIN_MS = 1000;

export class PlainStore extends CassandraTable<Statement> {
  readonly acceptsConditions = false;

  constructor(session: CqlSession, name: TableName, spec: NamespaceSpec) {
    const table = name.quoted;
    super(session, name, {
      insert: `INSERT INTO ${table} (key, value) VALUES (?, ?) USING TTL ?`,
      touchRead: `SELECT value, WRITETIME(value) AS written FROM ${table} WHERE key = ?`,
      touch: `INSERT INTO ${table} (key, value) VALUES (?, ?) USING TTL ? AND TIMESTAMP ?`,
      delete: `DELETE FROM ${table} WHERE key = ?`,
      deleteAt: `DELETE FROM ${table} USING TIMESTAMP ? WHERE key = ?`,
    });
    if (spec.conditionalWrites) throw new Error(`namespace ${spec.name} has conditional_writes: it needs a PaxosStore`);
  }

  /**
   * One reaction on the driver's once the table's version secret is known (two for the first
   * writes, which wait for it), not an async function (issue 24); a throw still rejects.
   */
  set(key: string, value: Buffer, requestedTtl: number, condition?: Condition): Promise<SetOutcome> {
    try {
      if (condition !== undefined) {
        throw new TypeError(`a conditional write reached the plain (Kask-mode) table ${this.table}: conditions need conditional_writes`);
      }
      const secret = this.knownSecret();
      if (secret === undefined) return Promise.resolve(this.secret()).then((read) => this.insert(key, value, requestedTtl, read));
      return this.insert(key, value, requestedTtl, secret);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private insert(key: string, value: Buffer, requestedTtl: number, secret: Buffer): Promise<SetOutcome> {
    return this.run('insert', [key, value, storableTtl(requestedTtl)], STATEMENT_OPTIONS.write).then(() => new Written(secret, key, value));
  }

  /**
   * Read the value and its write time, then write the same bytes back stamped 1 µs later
   * (timestamps.ts), so any later write or delete still wins.
   */
  async touch(key: string, requestedTtl: number, edit?: (value: Buffer) => Buffer | undefined): Promise<Touched | undefined> {
    const ttlSeconds = storableTtl(requestedTtl);
    const secret = await this.secret();
    const row = (await this.run('touchRead', [key], STATEMENT_OPTIONS.read)).first();
    const value = row?.get('value') as Buffer | null | undefined;
    if (value === null || value === undefined) return undefined;
    const bytes = edit === undefined ? value : edit(value);
    if (bytes === undefined) return undefined;
    const written = row.get('written') as cassandra.types.Long;
    // Idempotent: the same bytes at the same timestamp, however often it is applied.
    await this.run('touch', [key, bytes, ttlSeconds, touchTimestamp(written)], STATEMENT_OPTIONS.write);
    return { version: this.version(secret, key, bytes), ttl: ttlSeconds === 0 ? null : ttlSeconds };
  }

  /**
   * For `firkin import` (never a request): store `value` unless the key holds one, and say
   * whether it did. Not atomic (this mode has no lightweight transactions, and must not mix
   * them in): the key is read at LOCAL_QUORUM, and if absent the value is written stamped
   * with a time taken before that read, less IMPORT_CLOCK_MARGIN_MS (even, as every Firkin
   * timestamp: timestamps.ts). Any write or delete a server makes after the read is stamped
   * later by its own clock, so it wins over the import whichever reaches the replicas
   * first, as long as that clock is behind the importing host's by less than the margin;
   * one made before the read was seen by it (LOCAL_QUORUM both ways), and the import
   * leaves the key alone. A key deleted before the read holds nothing, and the import
   * stores the value.
   */
  async addIfAbsent(key: string, value: Buffer, requestedTtl: () => number): Promise<boolean> {
    const stamp = cassandra.types.Long.fromNumber((Date.now() - IMPORT_CLOCK_MARGIN_MS) * 1000 - 2);
    const row = (await this.run('touchRead', [key], { consistency: CONSISTENCY.read, isIdempotent: true })).first();
    const current = row?.get('value') as Buffer | null | undefined;
    if (current !== null && current !== undefined) return false;
    // Idempotent: the same bytes at the same timestamp, however often it is applied. The TTL: what is left now, after the read.
    await this.run('touch', [key, value, storableTtl(requestedTtl()), stamp], { consistency: CONSISTENCY.write, isIdempotent: true });
    return true;
  }

  async delete(key: string): Promise<void> {
    await this.run('delete', [key], STATEMENT_OPTIONS.delete);
  }

  /** Each key deleted, at once: a relocate under way writes with an older timestamp, so these tombstones win. */
  async deleteAll(keys: readonly string[]): Promise<void> {
    await Promise.all(keys.map((key) => this.delete(key)));
  }

  /**
   * A touch of `to` when it holds a value; else `from`'s bytes, rewritten, written to
   * `to` stamped 1 µs after `from`'s own write (as a touch), and `from` deleted at that
   * same time. Any write or delete made after `from` was read is stamped later, so it
   * wins: a newer value under `to` is never overwritten, a delete never undone.
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
    const row = (await this.run('touchRead', [from], STATEMENT_OPTIONS.read)).first();
    const value = row?.get('value') as Buffer | null | undefined;
    const touched = await this.touch(to, requestedTtl, edit);
    if (value === null || value === undefined) return touched;
    const at = touchTimestamp(row!.get('written') as cassandra.types.Long);
    if (touched === undefined) {
      const moved = rewrite(value);
      await this.run('touch', [to, moved, ttlSeconds, at], STATEMENT_OPTIONS.write);
      await this.run('deleteAt', [at, from], STATEMENT_OPTIONS.delete);
      return { version: this.version(secret, to, moved), ttl: ttlSeconds === 0 ? null : ttlSeconds };
    }
    await this.run('deleteAt', [at, from], STATEMENT_OPTIONS.delete);
    return touched;
  }
}
