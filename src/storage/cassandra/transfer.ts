/**
 * Cassandra as a source or a target of `firkin export` / `firkin import`
 * (storage/transfer.ts), through the engine the service uses (its driver options,
 * timestamps and failure classes).
 *
 * Source: each namespace's table walked in token order by paged `SELECT key, value,
 * TTL(value)` at LOCAL_QUORUM (every write Firkin acknowledged in this data centre is
 * seen), a page at a time: at most 1000 rows, fewer when the values are large (the page
 * size follows the bytes the last page held). A page that fails for a transient reason
 * is asked again, from the same paging state. An absent or empty value (a
 * `conditional_writes` namespace's deletion marker) is no session.
 *
 * Target: a `conditional_writes` namespace adds with its lightweight transaction
 * (`IF value = null`); a plain one reads, then writes stamped before the read
 * (plain-store.ts, addIfAbsent).
 */
import type { CassandraConfig } from '../../config/types.js';
import type { NamespaceSpec } from '../engine.js';
import { StorageError } from '../errors.js';
import { PAGE_BYTES, PAGE_RECORDS, type TransferRecord, type TransferSource, type TransferTarget } from '../transfer-types.js';
import { CassandraEngine } from './cassandra-engine.js';
import { CONSISTENCY } from './consistency.js';
import { PlainStore } from './plain-store.js';
import { quoteIdentifier } from './schema.js';

/** How long one page may take: a full scan is slower per row than a request. */
const PAGE_TIMEOUT_MS = 60_000;
/** Attempts at one page (or one add) that fails for a transient reason, a growing pause between them. */
const ATTEMPTS = 5;
const MIN_FETCH = 10;

async function connected(config: CassandraConfig): Promise<CassandraEngine> {
  let failure: unknown;
  const engine = new CassandraEngine({ config, onConnectError: (err) => (failure = err) });
  try {
    await engine.waitUntilConnected(config.connectTimeoutMs);
  } catch (err) {
    await engine.close();
    const why = failure instanceof Error ? `: ${failure.message}` : '';
    throw new Error(`cannot connect to Cassandra (${config.hosts.join(', ')})${why || `: ${(err as Error).message}`}`, { cause: failure ?? err });
  }
  return engine;
}

/** `attempt()`, again after a pause while it fails for a transient reason (or an outcome unknown: an add repeated is harmless). */
export async function retrying<T>(attempt: () => Promise<T>): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await attempt();
    } catch (err) {
      const again = err instanceof StorageError && (err.transient || err.kind === 'outcome-unknown');
      if (!again || i >= ATTEMPTS) throw err;
      await new Promise((resolve) => setTimeout(resolve, 200 * 2 ** i));
    }
  }
}

export async function cassandraSource(config: CassandraConfig): Promise<TransferSource> {
  const engine = await connected(config);
  return {
    kind: 'cassandra',
    damaged: 0,
    async *pages(namespace: NamespaceSpec) {
      const table = `${quoteIdentifier(config.keyspace)}.${quoteIdentifier(namespace.table ?? namespace.name)}`;
      const query = `SELECT key, value, TTL(value) AS ttl FROM ${table}`;
      let pageState: string | undefined;
      let fetchSize = PAGE_RECORDS;
      do {
        const readAt = Date.now();
        const state = pageState;
        const rs = await retrying(() =>
          engine.execute(
            query,
            [],
            { fetchSize, ...(state === undefined ? {} : { pageState: state }), consistency: CONSISTENCY.read, readTimeout: PAGE_TIMEOUT_MS, isIdempotent: true },
            { lwt: false, where: `${table} export` },
          ),
        );
        const records: TransferRecord[] = [];
        let bytes = 0;
        for (const row of rs.rows) {
          const value = row.get('value') as Buffer | null;
          if (value === null || (namespace.conditionalWrites === true && value.length === 0)) continue;
          const key = row.get('key') as string;
          const ttl = row.get('ttl') as number | null;
          records.push({ key, value, expiresAt: ttl === null ? null : readAt + ttl * 1000 });
          bytes += key.length + value.length;
        }
        if (records.length > 0) yield records;
        // Large values: fewer rows a page, so a page stays near PAGE_BYTES.
        if (bytes > PAGE_BYTES) fetchSize = Math.max(MIN_FETCH, Math.floor((fetchSize * PAGE_BYTES) / bytes));
        else if (bytes < PAGE_BYTES / 4) fetchSize = Math.min(PAGE_RECORDS, fetchSize * 2);
        pageState = rs.pageState ?? undefined;
      } while (pageState !== undefined);
    },
    get: (namespace, key) => engine.store(namespace).get(key),
    close: () => engine.close(),
  };
}

export async function cassandraTarget(config: CassandraConfig): Promise<TransferTarget> {
  const engine = await connected(config);
  return {
    kind: 'cassandra',
    add(namespace, key, value, ttlSeconds) {
      const store = engine.store(namespace);
      return retrying(async () => {
        if (store instanceof PlainStore) return store.addIfAbsent(key, value, ttlSeconds);
        return (await store.set(key, value, ttlSeconds(), { kind: 'absent' })).applied;
      });
    },
    close: () => engine.close(),
  };
}
