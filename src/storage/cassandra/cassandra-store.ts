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
import cassandra from 'cassandra-driver';
import type { Condition, EngineStore, SetOutcome, StoredValue, Touched } from '../engine.js';
import { StorageError } from '../errors.js';
import { keyedVersion, versionSecret } from '../version.js';
import { CONSISTENCY, STATEMENT_OPTIONS } from './consistency.js';
import { permanentError, truncateMayHaveApplied } from './errors.js';

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

/** Where a store's table is: its names as configured (Cassandra's), and quoted for CQL. */
export interface TableName {
  readonly keyspace: string;
  readonly table: string;
  /** `"keyspace"."table"`. */
  readonly quoted: string;
}

/** The table's id, from which its versions' secret is derived (version.ts). */
const TABLE_ID = 'SELECT id FROM system_schema.tables WHERE keyspace_name = ? AND table_name = ?';
const KEYSPACE_EXISTS = 'SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = ?';

/** The statements every table answers, by name. */
export function tableStatements(table: string): Readonly<Record<'get' | 'probe' | 'truncate', string>> {
  return {
    get: `SELECT value, TTL(value) AS ttl FROM ${table} WHERE key = ?`,
    probe: `SELECT key FROM ${table} WHERE key = ?`,
    truncate: `TRUNCATE TABLE ${table}`,
  };
}

/**
 * A value read, whose version is computed only if asked for: a sealed namespace
 * (seal/sealed-store.ts) serves its records' own versions and never asks. What it
 * computes from (the key, the table's secret) is in native private fields, which no
 * copy (spread, JSON, structured clone) carries; such a copy would also lack `version`,
 * so StoredValues are passed on, never copied (storage/engine.ts).
 */
class Found implements StoredValue {
  #version: string | undefined;
  readonly #secret: Buffer;
  readonly #key: string;

  constructor(
    readonly value: Buffer,
    readonly ttl: number | null,
    secret: Buffer,
    key: string,
  ) {
    this.#secret = secret;
    this.#key = key;
  }

  get version(): string {
    return (this.#version ??= keyedVersion(this.#secret, this.#key, this.value));
  }
}

/** An applied write, whose version is computed only if asked for (as Found's). */
export class Written {
  readonly applied = true as const;
  #version: string | undefined;
  readonly #secret: Buffer;
  readonly #key: string;
  readonly #value: Buffer;

  constructor(secret: Buffer, key: string, value: Buffer) {
    this.#secret = secret;
    this.#key = key;
    this.#value = value;
  }

  get version(): string {
    return (this.#version ??= keyedVersion(this.#secret, this.#key, this.#value));
  }
}

export abstract class CassandraTable<S extends string> implements EngineStore {
  abstract readonly acceptsConditions: boolean;
  /**
   * Whether an empty value is read as absent: in `conditional_writes` namespaces the
   * empty blob is a deletion marker (paxos-store.ts deleteAll); Firkin never stores an
   * empty value otherwise.
   */
  protected readonly emptyIsAbsent: boolean = false;
  private readonly shared: Readonly<Record<'get' | 'probe' | 'truncate', string>>;
  /** `"keyspace"."table"`, quoted. */
  protected readonly table: string;
  /** The secret of this table's versions, once read (see secret()). */
  private versions: Buffer | undefined;
  private reading: Promise<Buffer> | undefined;
  /** What the log names a read by, built once. */
  private readonly getWhere: { readonly lwt: false; readonly where: string };
  /** What the log names each of this mode's statements by, built once. */
  private readonly whereOf: Readonly<Record<S, string>>;

  constructor(
    private readonly session: CqlSession,
    private readonly name: TableName,
    /** This mode's own statements. */
    private readonly statements: Readonly<Record<S, string>>,
  ) {
    this.table = name.quoted;
    this.shared = tableStatements(name.quoted);
    this.getWhere = { lwt: false, where: `${this.table} get` };
    this.whereOf = Object.fromEntries(Object.keys(statements).map((s) => [s, `${this.table} ${s}`])) as Readonly<Record<S, string>>;
  }

  /**
   * The secret of this table's versions, derived from the table's id (version.ts): read
   * once from the schema, then kept. A missing table fails as every statement on it does.
   */
  protected secret(): Buffer | Promise<Buffer> {
    if (this.versions !== undefined) return this.versions;
    this.reading ??= this.session
      .execute(TABLE_ID, [this.name.keyspace, this.name.table], { consistency: cassandra.types.consistencies.localOne }, { lwt: false, where: `${this.table} id` })
      .then(async (rs) => {
        const id = rs.first()?.get('id') as cassandra.types.Uuid | undefined;
        if (id === undefined) {
          // Which is missing, the table or its whole keyspace: the answer and the log say which (an extra read, on this failure only).
          const ks = await this.session.execute(KEYSPACE_EXISTS, [this.name.keyspace], { consistency: cassandra.types.consistencies.localOne }, { lwt: false, where: `${this.table} id` });
          if (ks.rowLength === 0) throw permanentError('missing-keyspace', `${this.table} id`, new Error(`no keyspace "${this.name.keyspace}" in system_schema.keyspaces`));
          throw permanentError('missing-table', `${this.table} id`, new Error(`no table ${this.table} in system_schema.tables`));
        }
        this.versions = versionSecret(id.getBuffer());
        return this.versions;
      })
      .finally(() => {
        this.reading = undefined;
      });
    return this.reading;
  }

  /** The secret of this table's versions if already read (no await on the data path then). */
  protected knownSecret(): Buffer | undefined {
    return this.versions;
  }

  /** The version (ETag) of `value` under `key`. */
  protected version(secret: Buffer, key: string, value: Buffer): string {
    return keyedVersion(secret, key, value);
  }

  protected run(statement: S, params: unknown[], options: cassandra.QueryOptions, lwt = false): Promise<cassandra.types.ResultSet> {
    return this.session.execute(this.statements[statement], params, options, { lwt, where: this.whereOf[statement] });
  }

  protected paxosDeleteConsistency(): number {
    return this.session.paxosDeleteConsistency();
  }

  get(key: string): Promise<StoredValue | undefined> {
    const secret = this.versions;
    // The secret is read once, then kept (no await on the data path after that).
    if (secret === undefined) return Promise.resolve(this.secret()).then((read) => this.read(key, read));
    return this.read(key, secret);
  }

  /**
   * The plain read. Idempotent: if the coordinator dies mid-request, the driver retries on
   * another node instead of failing the request (a read, a plain write or a delete can
   * safely run twice). One reaction, not an async function (issue 24).
   */
  private read(key: string, secret: Buffer): Promise<StoredValue | undefined> {
    return this.session.execute(this.shared.get, [key], STATEMENT_OPTIONS.read, this.getWhere).then((rs) => {
      const row = rs.first();
      const value = row?.get('value') as Buffer | null | undefined;
      if (value === null || value === undefined || (this.emptyIsAbsent && value.length === 0)) return undefined;
      const ttl = row.get('ttl') as number | null;
      return new Found(value, ttl === null ? null : Math.max(ttl, 1), secret, key);
    });
  }

  abstract set(key: string, value: Buffer, ttlSeconds: number, condition?: Condition): Promise<SetOutcome>;
  abstract touch(key: string, ttlSeconds: number, edit?: (value: Buffer) => Buffer | undefined): Promise<Touched | undefined>;
  abstract delete(key: string): Promise<void>;
  abstract deleteAll(keys: readonly string[]): Promise<void>;
  abstract relocate(
    from: string,
    to: string,
    rewrite: (value: Buffer) => Buffer,
    ttlSeconds: number,
    edit?: (value: Buffer) => Buffer | undefined,
  ): Promise<Touched | undefined>;

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
