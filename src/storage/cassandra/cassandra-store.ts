/**
 * One namespace's table on Cassandra: what both write modes share (the read, the
 * readiness probe, TRUNCATE) and the session they run statements through. Each
 * namespace runs in one of two write modes (docs/cassandra.md, "Writes"), each a
 * class of its own so that neither can issue the other's statements:
 *
 * - plain-store.ts (default, Kask's): plain mutations with client-side timestamps;
 *   it takes no condition at all.
 * - paxos-store.ts (`conditional_writes: true`): every write and delete is a
 *   lightweight transaction, and conditions are served.
 *
 * Mixing the two on one key would be unsafe: a lightweight transaction takes its
 * timestamp from the coordinator's Paxos ballot, and mixed with client-timestamped
 * mutations, clock skew can make an acknowledged write invisible.
 */
import type cassandra from 'cassandra-driver';
import type { Condition, KeyValueStore, SetOutcome, StoredValue, Touched } from '../engine.js';
import { StorageError } from '../errors.js';
import { valueVersion } from '../version.js';
import { CONSISTENCY } from './consistency.js';
import { truncateMayHaveApplied } from './errors.js';

/** What a store needs of the engine (cassandra-engine.ts implements it): its one driver client. */
export interface CqlSession {
  /**
   * Run a prepared statement. Driver failures become StorageErrors (errors.ts); `lwt`: a
   * lightweight transaction, whose timeout leaves its outcome unknown. `where` names the
   * table and statement, for the log.
   */
  execute(query: string, params: unknown[], options: cassandra.QueryOptions, how: { lwt: boolean; where: string }): Promise<cassandra.types.ResultSet>;
  /** The commit consistency of a delete through Paxos (EACH_QUORUM, or QUORUM in a keyspace without data centres). */
  paxosDeleteConsistency(): number;
}

/** A key no client can send (the server refuses control characters in keys): the readiness probe reads it. */
const PROBE_KEY = '\u0000firkin-readiness-probe';
/**
 * How long the driver waits for a TRUNCATE: a little longer than Cassandra's own
 * `truncate_request_timeout` (60 s by default), so the node's answer arrives first.
 */
const TRUNCATE_TIMEOUT_MS = 65_000;

/** The statements every table answers, by name. */
export function tableStatements(table: string): Readonly<Record<'get' | 'probe' | 'truncate', string>> {
  return {
    get: `SELECT value, TTL(value) AS ttl FROM ${table} WHERE key = ?`,
    probe: `SELECT key FROM ${table} WHERE key = ?`,
    truncate: `TRUNCATE TABLE ${table}`,
  };
}

export abstract class CassandraTable<S extends string> implements KeyValueStore {
  abstract readonly acceptsConditions: boolean;
  private readonly shared: Readonly<Record<'get' | 'probe' | 'truncate', string>>;

  constructor(
    private readonly session: CqlSession,
    /** `"keyspace"."table"`, quoted. */
    protected readonly table: string,
    /** This mode's own statements. */
    private readonly statements: Readonly<Record<S, string>>,
  ) {
    this.shared = tableStatements(table);
  }

  protected run(statement: S, params: unknown[], options: cassandra.QueryOptions, lwt = false): Promise<cassandra.types.ResultSet> {
    return this.session.execute(this.statements[statement], params, options, { lwt, where: `${this.table} ${statement}` });
  }

  protected paxosDeleteConsistency(): number {
    return this.session.paxosDeleteConsistency();
  }

  async get(key: string): Promise<StoredValue | undefined> {
    // Idempotent: if the coordinator dies mid-request, the driver retries on another node
    // instead of failing the request (a read, a plain write or a delete can safely run twice).
    const rs = await this.session.execute(this.shared.get, [key], { consistency: CONSISTENCY.read, isIdempotent: true }, { lwt: false, where: `${this.table} get` });
    const row = rs.first();
    const value = row?.get('value') as Buffer | null | undefined;
    if (value === null || value === undefined) return undefined;
    const ttl = row.get('ttl') as number | null;
    return { value, version: valueVersion(value), ttl: ttl === null ? null : Math.max(ttl, 1) };
  }

  abstract set(key: string, value: Buffer, ttlSeconds: number, condition?: Condition): Promise<SetOutcome>;
  abstract touch(key: string, ttlSeconds: number): Promise<Touched | undefined>;
  abstract delete(key: string): Promise<void>;

  /**
   * TRUNCATE the namespace's table. Cassandra runs it on every node and refuses it up
   * front (unavailable: nothing removed) unless all of them are up. Not idempotent for
   * the driver, so never re-sent by it; a timeout may leave some nodes truncated.
   */
  async truncate(): Promise<void> {
    try {
      await this.session.execute(this.shared.truncate, [], { readTimeout: TRUNCATE_TIMEOUT_MS, prepare: false }, { lwt: false, where: `${this.table} truncate` });
    } catch (err) {
      if (err instanceof StorageError && err.transient && truncateMayHaveApplied(err.cause)) {
        throw new StorageError('outcome-unknown', 'TRUNCATE did not finish in time: it may have applied on some nodes only', { cause: err.cause });
      }
      throw err;
    }
  }

  async probe(timeoutMs: number): Promise<void> {
    await this.session.execute(this.shared.probe, [PROBE_KEY], { consistency: CONSISTENCY.read, readTimeout: timeoutMs }, { lwt: false, where: `${this.table} probe` });
  }
}
