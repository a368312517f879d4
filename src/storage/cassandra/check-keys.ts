/**
 * `firkin check-keys`: before Firkin takes over a keyspace Kask has written, read
 * every key of every namespace's table and count those Firkin would refuse, so
 * `max_key_bytes` can be raised first. Kask has no key limit of its own (Go's
 * 1 MiB request head, then Cassandra's 65535 bytes); Firkin answers 414 to a key
 * longer than `max_key_bytes`, which would leave such a value unreadable and
 * undeletable through it.
 *
 * The scan pages through `SELECT key FROM <table>` (keys only, never values) at
 * consistency ONE, 1000 keys a page. It reports counts and lengths, never a key.
 */
import cassandra from 'cassandra-driver';
import type { CassandraConfig, NamespaceConfig } from '../../config/types.js';
import { clientOptions } from './client-options.js';
import { quoteIdentifier } from './schema.js';

/** Keys fetched per page. */
export const CHECK_KEYS_PAGE_SIZE = 1000;
/** One page may take this long (a full scan reads from every replica set in turn). */
const PAGE_TIMEOUT_MS = 60_000;
/** C0 controls and DEL: Firkin refuses keys holding them (src/api/route.ts). */
const CONTROL = /[\x00-\x1f\x7f]/;

export interface TableKeyReport {
  readonly namespace: string;
  readonly table: string;
  /** Keys in the table (live ones: Cassandra skips expired and deleted rows). */
  readonly keys: number;
  /** The longest key, in UTF-8 bytes (0 for an empty table). */
  readonly longestBytes: number;
  /** Keys longer than max_key_bytes: Firkin would answer 414 to them. */
  readonly overLimit: number;
  /** Keys holding a control character: Firkin would answer 400 to them. */
  readonly withControl: number;
}

/** Scan each namespace's table; `onPage` is told the running count after each page. */
export async function checkKeys(
  config: CassandraConfig,
  namespaces: readonly NamespaceConfig[],
  maxKeyBytes: number,
  onPage?: (namespace: string, keysSoFar: number) => void,
): Promise<TableKeyReport[]> {
  const client = new cassandra.Client(clientOptions(config, { withKeyspace: false }));
  try {
    await client.connect();
    const reports: TableKeyReport[] = [];
    for (const ns of namespaces) {
      const query = `SELECT key FROM ${quoteIdentifier(config.keyspace)}.${quoteIdentifier(ns.table)}`;
      let keys = 0;
      let longestBytes = 0;
      let overLimit = 0;
      let withControl = 0;
      let pageState: string | undefined;
      do {
        const page = await client.execute(query, [], {
          prepare: true,
          fetchSize: CHECK_KEYS_PAGE_SIZE,
          pageState,
          consistency: cassandra.types.consistencies.one,
          readTimeout: PAGE_TIMEOUT_MS,
        });
        for (const row of page.rows) {
          const key = row.get('key') as string;
          const bytes = Buffer.byteLength(key, 'utf8');
          keys++;
          if (bytes > longestBytes) longestBytes = bytes;
          if (bytes > maxKeyBytes) overLimit++;
          if (CONTROL.test(key)) withControl++;
        }
        onPage?.(ns.name, keys);
        pageState = page.pageState ?? undefined;
      } while (pageState !== undefined);
      reports.push({ namespace: ns.name, table: `${config.keyspace}.${ns.table}`, keys, longestBytes, overLimit, withControl });
    }
    return reports;
  } finally {
    await client.shutdown();
  }
}
