/**
 * The Cassandra engine: Kask's table layout (`key text PRIMARY KEY, value blob`),
 * unchanged, so Firkin and Kask can share a keyspace.
 *
 * - get: `SELECT value, TTL(value)` at LOCAL_QUORUM.
 * - set: Kask's own `INSERT … USING TTL` at LOCAL_QUORUM.
 * - add (If-None-Match: *): `INSERT … IF NOT EXISTS` (lightweight transaction).
 * - replace (If-Match: *): `UPDATE … IF EXISTS`.
 * - compare-and-set (If-Match: "v"): the version is derived from the bytes, so the
 *   current bytes are read at LOCAL_SERIAL and the update is conditional on them:
 *   `UPDATE … IF value = <those bytes>`. No schema change is needed.
 * - delete: at EACH_QUORUM, so a 204 means every data centre has the tombstone.
 *
 * The service starts while Cassandra is down: requests get 503 until a
 * background loop connects; after that the driver reconnects to nodes by itself.
 */
import cassandra from 'cassandra-driver';
import type { CassandraConfig } from '../../config/load.js';
import {
  StorageUnavailableError,
  type Condition,
  type KeyValueStore,
  type NamespaceSpec,
  type SetOutcome,
  type StorageEngine,
  type StoredValue,
} from '../engine.js';
import { conditionHolds, valueVersion } from '../version.js';
import { CONSISTENCY } from './consistency.js';
import { clientOptions } from './client-options.js';
import { quoteIdentifier } from './schema.js';

const { Client } = cassandra;

/** A key no client can send (the server refuses control characters in keys). */
const PROBE_KEY = '\u0000firkin-readiness-probe';
const PROBE_TIMEOUT_MS = 2000;

export interface CassandraEngineOptions {
  readonly config: CassandraConfig;
  /** Called with each connection failure, for the log. */
  readonly onConnectError?: (err: unknown) => void;
}

export class CassandraEngine implements StorageEngine {
  readonly kind = 'cassandra' as const;
  /** A plain write is blind: knowing the value it replaced would cost a read. */
  readonly knowsPreviousVersion = false;
  private readonly client: cassandra.Client;
  private readonly stores = new Map<string, CassandraStore>();
  private connected = false;
  private closed = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private connecting: Promise<void> | undefined;

  constructor(private readonly options: CassandraEngineOptions) {
    this.client = new Client(clientOptions(options.config, { withKeyspace: false }));
    // cassandra-driver 4.10 replaces a Host object on some topology refreshes (after a
    // reconnect) without shutting the old one down, leaking its timers and pool; do it here.
    this.client.on('hostRemove', (host: cassandra.Host) => {
      queueMicrotask(() => {
        if (this.client.hosts.values().includes(host)) return;
        (host as unknown as { shutdown(waitForPending: boolean): Promise<void> }).shutdown(false).catch(() => undefined);
      });
    });
    this.connectInBackground(0);
  }

  /** Resolves once connected (for start-up scripts and tests); rejects after `timeoutMs`. */
  async waitUntilConnected(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.connected) {
      if (this.closed || Date.now() > deadline) throw new StorageUnavailableError('not connected to Cassandra');
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  store(namespace: NamespaceSpec): KeyValueStore {
    const table = namespace.table ?? namespace.name;
    let store = this.stores.get(namespace.name);
    if (!store) {
      store = new CassandraStore(this, `${quoteIdentifier(this.options.config.keyspace)}.${quoteIdentifier(table)}`);
      this.stores.set(namespace.name, store);
    }
    return store;
  }

  async probe(timeoutMs = PROBE_TIMEOUT_MS): Promise<void> {
    const first = this.stores.values().next().value as CassandraStore | undefined;
    if (first === undefined) {
      await this.execute('SELECT release_version FROM system.local', [], { readTimeout: timeoutMs });
      return;
    }
    await first.probe(timeoutMs);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    await this.connecting?.catch(() => undefined);
    await this.client.shutdown();
    await this.closeDriverLeftovers();
  }

  /**
   * Work around races in cassandra-driver 4.10 at shutdown: a control connection
   * that was reconnecting when shutdown() ran can finish opening afterwards, and a
   * host re-added by that late refresh starts its health timer and pool again. Left
   * alone they keep the process alive. For a second after shutdown, close them.
   */
  private async closeDriverLeftovers(): Promise<void> {
    type Pool = { connections: unknown[]; clearNewConnectionAttempt(): void; shutdown(): Promise<void> };
    type Host = { _healthResponseCountTimer?: NodeJS.Timeout | null; pool: Pool };
    const internals = this.client as unknown as {
      controlConnection?: { connection?: { isSocketOpen?: boolean; close(): void } | null };
      hosts?: { values(): Host[] };
    };
    for (let i = 0; i < 10; i++) {
      const connection = internals.controlConnection?.connection;
      if (connection?.isSocketOpen) connection.close();
      for (const host of internals.hosts?.values() ?? []) {
        if (host._healthResponseCountTimer) clearInterval(host._healthResponseCountTimer);
        host._healthResponseCountTimer = null;
        host.pool.clearNewConnectionAttempt();
        if (host.pool.connections.length > 0) await host.pool.shutdown().catch(() => undefined);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Run a prepared statement; driver failures become StorageUnavailableError. */
  async execute(
    query: string,
    params: unknown[],
    options: cassandra.QueryOptions = {},
  ): Promise<cassandra.types.ResultSet> {
    if (this.closed) throw new StorageUnavailableError('Cassandra engine is closed');
    if (!this.connected) {
      this.connectInBackground(0);
      throw new StorageUnavailableError('not connected to Cassandra');
    }
    try {
      return await this.client.execute(query, params, { prepare: true, ...options });
    } catch (err) {
      throw new StorageUnavailableError('Cassandra request failed', { cause: err });
    }
  }

  private connectInBackground(delayMs: number): void {
    if (this.connecting || this.reconnectTimer || this.closed || this.connected) return;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.connecting = this.client.connect().then(
        () => {
          this.connected = true;
          this.connecting = undefined;
        },
        (err: unknown) => {
          this.connecting = undefined;
          this.options.onConnectError?.(err);
          this.connectInBackground(Math.min(Math.max(delayMs * 2, 500), 5000));
        },
      );
    }, delayMs);
    this.reconnectTimer.unref();
  }
}

class CassandraStore implements KeyValueStore {
  private readonly q: Record<'get' | 'getValue' | 'insert' | 'add' | 'replace' | 'cas' | 'delete' | 'probe', string>;

  constructor(
    private readonly engine: CassandraEngine,
    table: string,
  ) {
    this.q = {
      get: `SELECT value, TTL(value) AS ttl FROM ${table} WHERE key = ?`,
      getValue: `SELECT value FROM ${table} WHERE key = ?`,
      insert: `INSERT INTO ${table} (key, value) VALUES (?, ?) USING TTL ?`,
      add: `INSERT INTO ${table} (key, value) VALUES (?, ?) IF NOT EXISTS USING TTL ?`,
      replace: `UPDATE ${table} USING TTL ? SET value = ? WHERE key = ? IF EXISTS`,
      cas: `UPDATE ${table} USING TTL ? SET value = ? WHERE key = ? IF value = ?`,
      delete: `DELETE FROM ${table} WHERE key = ?`,
      probe: `SELECT key FROM ${table} WHERE key = ?`,
    };
  }

  async get(key: string): Promise<StoredValue | undefined> {
    // Idempotent: if the coordinator dies mid-request, the driver retries on another node
    // instead of failing the request (a read, a plain write or a delete can safely run twice).
    const rs = await this.engine.execute(this.q.get, [key], { consistency: CONSISTENCY.read, isIdempotent: true });
    const row = rs.first();
    const value = row?.get('value') as Buffer | null | undefined;
    if (value === null || value === undefined) return undefined;
    const ttl = row.get('ttl') as number | null;
    return { value, version: valueVersion(value), ttl: ttl === null ? null : Math.max(ttl, 1) };
  }

  async set(key: string, value: Buffer, ttlSeconds: number, condition?: Condition): Promise<SetOutcome> {
    const version = valueVersion(value);
    const write = { consistency: CONSISTENCY.write, serialConsistency: CONSISTENCY.serial };
    const applied = (previousVersion?: string | null): SetOutcome => ({ applied: true, version, previousVersion });
    switch (condition?.kind) {
      case undefined:
        await this.engine.execute(this.q.insert, [key, value, ttlSeconds], { ...write, isIdempotent: true });
        return applied();
      case 'absent': {
        const rs = await this.engine.execute(this.q.add, [key, value, ttlSeconds], write);
        return rs.wasApplied() ? applied(null) : { applied: false };
      }
      case 'present': {
        const rs = await this.engine.execute(this.q.replace, [ttlSeconds, value, key], write);
        return rs.wasApplied() ? applied() : { applied: false };
      }
      case 'version': {
        // Read the current bytes linearizably, then update only if they are still those bytes.
        const rs = await this.engine.execute(this.q.getValue, [key], { consistency: CONSISTENCY.serial });
        const current = rs.first()?.get('value') as Buffer | null | undefined;
        if (current === null || current === undefined) return { applied: false };
        const currentVersion = valueVersion(current);
        if (!conditionHolds(condition, currentVersion)) return { applied: false };
        const cas = await this.engine.execute(this.q.cas, [ttlSeconds, value, key, current], write);
        return cas.wasApplied() ? applied(currentVersion) : { applied: false };
      }
    }
  }

  async delete(key: string): Promise<void> {
    await this.engine.execute(this.q.delete, [key], { consistency: CONSISTENCY.delete, isIdempotent: true });
  }

  async probe(timeoutMs: number): Promise<void> {
    await this.engine.execute(this.q.probe, [PROBE_KEY], { consistency: CONSISTENCY.read, readTimeout: timeoutMs });
  }
}
