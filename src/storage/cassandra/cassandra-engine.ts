/**
 * The Cassandra engine: Kask's table layout (`key text PRIMARY KEY, value blob`),
 * unchanged, so Firkin and Kask can share a keyspace.
 *
 * Each namespace's table is a store of its write mode (plain-store.ts, Kask's; or
 * paxos-store.ts, `conditional_writes`), all sharing this engine's one driver client
 * through the CqlSession it implements (cassandra-store.ts).
 *
 * Driver failures are classified (errors.ts): transient, permanent, or (a timed-out
 * lightweight transaction) of unknown outcome.
 *
 * The service starts while Cassandra is down: requests get 503 until a
 * background loop connects; after that the driver reconnects to nodes by itself.
 *
 * The schema is checked (schema-check.ts) once connected and at every readiness probe:
 * a missing keyspace or table, or one of another layout, fails the probe and is
 * reported to `onSchema` when it changes; while something is missing it is checked
 * again every 10 s, so the service becomes ready once an operator creates it.
 */
import cassandra from 'cassandra-driver';
import { closeDriverLeftovers, shutDownReplacedHost } from '../../base/internals.js';
import type { CassandraConfig } from '../../config/types.js';
import type { EngineStore, NamespaceSpec, StorageEngine } from '../engine.js';
import { StorageError } from '../errors.js';
import type { CassandraTable, CqlSession } from './cassandra-store.js';
import { clientOptions } from './client-options.js';
import { CONSISTENCY } from './consistency.js';
import { classify, connectionRefused, permanentError, storageError } from './errors.js';
import { PaxosStore } from './paxos-store.js';
import { PlainStore } from './plain-store.js';
import { quoteIdentifier } from './schema.js';
import { checkSchema, type ExpectedTable, type SchemaProblem } from './schema-check.js';
import { EvenTimestampGenerator } from './timestamps.js';

const { Client } = cassandra;

const PROBE_TIMEOUT_MS = 2000;
/** While the schema is incomplete, how often it is checked again (besides every readiness probe). */
const SCHEMA_RECHECK_MS = 10_000;

export interface CassandraEngineOptions {
  readonly config: CassandraConfig;
  /** Called with each connection failure, for the log. */
  readonly onConnectError?: (err: unknown) => void;
  /**
   * Called when what the schema check finds changes: the problems (the keyspace or
   * tables missing, or of another layout), or none once they are fixed, for the log.
   */
  readonly onSchema?: (problems: readonly SchemaProblem[]) => void;
  /**
   * Tests only: the driver's client-side timestamp generator, to simulate a client
   * clock ahead of or behind the coordinators'.
   */
  readonly timestampGeneration?: cassandra.policies.timestampGeneration.TimestampGenerator;
}


export class CassandraEngine implements StorageEngine, CqlSession {
  readonly kind = 'cassandra' as const;
  /** A plain write is blind: knowing the value it replaced would cost a read. */
  readonly knowsPreviousVersion = false;
  private readonly client: cassandra.Client;
  private readonly stores = new Map<string, CassandraTable<string>>();
  private connected = false;
  private closed = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private connecting: Promise<void> | undefined;
  /** Why the last connection attempt failed, when that was permanent (refused credentials). */
  private connectFailure: StorageError | undefined;
  /** Each namespace and its table, for the schema check. */
  private readonly tables: ExpectedTable[] = [];
  private schemaChecking: Promise<readonly SchemaProblem[]> | undefined;
  /** What the last schema check found (JSON), to report only changes. */
  private schemaFound: string | undefined;
  private schemaTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: CassandraEngineOptions) {
    const driverOptions = clientOptions(options.config, { withKeyspace: false });
    // Even timestamps only, so that a touch (timestamps.ts) never ties with a write of Firkin's.
    driverOptions.policies = { ...driverOptions.policies, timestampGeneration: options.timestampGeneration ?? new EvenTimestampGenerator() };
    this.client = new Client(driverOptions);
    // A Host the driver replaced without shutting it down (base/internals.ts).
    this.client.on('hostRemove', (host: cassandra.Host) => shutDownReplacedHost(this.client, host));
    this.connectInBackground(0);
  }

  /** Resolves once connected (for start-up scripts and tests); rejects after `timeoutMs`. */
  async waitUntilConnected(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.connected) {
      if (this.closed || Date.now() > deadline) throw this.connectFailure ?? new StorageError('unavailable', 'not connected to Cassandra');
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  store(namespace: NamespaceSpec): EngineStore {
    const table = namespace.table ?? namespace.name;
    let store = this.stores.get(namespace.name);
    if (!store) {
      const { keyspace } = this.options.config;
      const name = { keyspace, table, quoted: `${quoteIdentifier(keyspace)}.${quoteIdentifier(table)}` };
      store = namespace.conditionalWrites ? new PaxosStore(this, name, namespace) : new PlainStore(this, name, namespace);
      this.stores.set(namespace.name, store);
      this.tables.push({ namespace: namespace.name, table });
    }
    return store;
  }

  /**
   * Ready when every namespace's table answers a read. Only the probe decides: a
   * permanent failure a request meets (a statement refused for that request's data, or a
   * permission only writes need) answers that request 500 and is logged, but must not
   * take every instance out of the load balancer at once, reads included. A missing
   * table or keyspace, or refused credentials, fail the probe itself.
   */
  async probe(timeoutMs = PROBE_TIMEOUT_MS): Promise<void> {
    if (this.stores.size === 0) {
      await this.execute('SELECT release_version FROM system.local', [], { readTimeout: timeoutMs }, { lwt: false, where: 'system' });
      return;
    }
    // The schema check beside the reads, so the probe takes one round trip as before.
    const [schema, ...results] = await Promise.allSettled([this.checkSchema(timeoutMs), ...[...this.stores.values()].map((s) => s.probe(timeoutMs))]);
    const problems = schema.status === 'fulfilled' ? schema.value : [];
    if (problems.length > 0) {
      const what = problems.map((p) => `${p.text} (namespace ${p.namespaces.join(', ')})`).join('; ');
      throw permanentError(problems[0]!.cause, what, new Error(what));
    }
    // One failure decides; a permanent one wins over a transient one, as it needs an operator.
    const failures = [schema, ...results].flatMap((r) => (r.status === 'rejected' ? [r.reason as Error] : []));
    const permanent = failures.find((e) => e instanceof StorageError && e.needsOperator);
    if (permanent ?? failures[0]) throw permanent ?? failures[0];
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.schemaTimer);
    await this.schemaChecking?.catch(() => undefined);
    await this.connecting?.catch(() => undefined);
    await this.client.shutdown();
    await closeDriverLeftovers(this.client); // races at shutdown (base/internals.ts)
  }

  /**
   * Run a prepared statement. Driver failures become StorageErrors (errors.ts): for a
   * lightweight transaction (`lwt`) that timed out, `outcome-unknown`. `where` names the
   * table and statement, for the log.
   */
  execute(query: string, params: unknown[], options: cassandra.QueryOptions, place: { readonly lwt: boolean; readonly where: string }): Promise<cassandra.types.ResultSet> {
    if (this.closed) return Promise.reject(new StorageError('unavailable', 'Cassandra engine is closed'));
    if (!this.connected) {
      this.connectInBackground(0);
      return Promise.reject(this.connectFailure ?? new StorageError('unavailable', 'not connected to Cassandra'));
    }
    // Prepared: the client's default (client-options.ts queryOptions). One reaction, not an
    // async function around the driver's promise (issue 24).
    let running: Promise<cassandra.types.ResultSet>;
    try {
      running = this.client.execute(query, params, options);
    } catch (err) {
      return Promise.reject(storageError(err, place));
    }
    return running.then(undefined, (err: unknown) => {
      throw storageError(err, place);
    });
  }

  /**
   * The commit consistency of a delete through Paxos: EACH_QUORUM, as for a plain delete.
   * Cassandra refuses EACH_QUORUM as a lightweight transaction's commit consistency in a
   * keyspace that is not replicated per data centre (SimpleStrategy, a development
   * keyspace): there, with no data centres to tell apart, QUORUM means the same.
   */
  paxosDeleteConsistency(): number {
    const keyspace = this.client.metadata?.keyspaces?.[this.options.config.keyspace] as { strategy?: string } | undefined;
    const perDc = keyspace?.strategy === undefined || keyspace.strategy.endsWith('NetworkTopologyStrategy');
    return perDc ? CONSISTENCY.delete : cassandra.types.consistencies.quorum;
  }

  /**
   * Check the schema (one check at a time: concurrent callers share it), report a change
   * to onSchema, and while something is missing schedule the next check.
   */
  private checkSchema(timeoutMs: number): Promise<readonly SchemaProblem[]> {
    this.schemaChecking ??= checkSchema(this, this.options.config.keyspace, this.tables, timeoutMs)
      .then((problems) => {
        const found = JSON.stringify(problems);
        // The first check reports only problems; later ones any change (the fix included).
        if (found !== this.schemaFound && (this.schemaFound !== undefined || problems.length > 0)) this.options.onSchema?.(problems);
        this.schemaFound = found;
        return problems;
      })
      .finally(() => {
        this.schemaChecking = undefined;
        // Until a check has found everything in place (a failed check included), check again.
        clearTimeout(this.schemaTimer);
        if (this.schemaFound !== '[]' && !this.closed) {
          this.schemaTimer = setTimeout(() => void this.checkSchema(PROBE_TIMEOUT_MS).catch(() => undefined), SCHEMA_RECHECK_MS);
          this.schemaTimer.unref();
        }
      });
    return this.schemaChecking;
  }

  private connectInBackground(delayMs: number): void {
    if (this.connecting || this.reconnectTimer || this.closed || this.connected) return;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.connecting = this.client.connect().then(
        () => {
          this.connected = true;
          this.connecting = undefined;
          this.connectFailure = undefined;
          if (this.tables.length > 0) this.checkSchema(PROBE_TIMEOUT_MS).catch(() => undefined);
        },
        (err: unknown) => {
          this.connecting = undefined;
          const c = classify(err);
          this.connectFailure = c.kind === 'permanent' ? connectionRefused(c.cause, err) : undefined;
          this.options.onConnectError?.(err);
          this.connectInBackground(Math.min(Math.max(delayMs * 2, 500), 5000));
        },
      );
    }, delayMs);
    this.reconnectTimer.unref();
  }
}
