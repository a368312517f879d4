/**
 * Counting a table's keys by what they look like (`firkin keys status`: records per
 * keyring key id in sealed namespaces), never reading a value: the scan pages
 * through `SELECT key FROM <table>` in token order at consistency ONE (a count for an
 * operator's decision, not a transaction; a replica that missed a write may miss a
 * key), 1000 keys a page, reporting progress after each page.
 */
import cassandra from 'cassandra-driver';
import type { CassandraConfig } from '../../config/types.js';
import { clientOptions } from './client-options.js';
import { quoteIdentifier } from './schema.js';

const PAGE_SIZE = 1000;
const PAGE_TIMEOUT_MS = 60_000;

/** Keys of `table`, counted by `label(key)`; `onPage` is told the running total after each page. */
export async function countTableKeys(
  config: CassandraConfig,
  table: string,
  label: (key: string) => string,
  onPage?: (keysSoFar: number) => void,
): Promise<Map<string, number>> {
  const client = new cassandra.Client(clientOptions(config, { withKeyspace: false }));
  const counts = new Map<string, number>();
  try {
    await client.connect();
    const query = `SELECT key FROM ${quoteIdentifier(config.keyspace)}.${quoteIdentifier(table)}`;
    let total = 0;
    let pageState: string | undefined;
    do {
      const page = await client.execute(query, [], {
        prepare: true,
        fetchSize: PAGE_SIZE,
        pageState,
        consistency: cassandra.types.consistencies.one,
        readTimeout: PAGE_TIMEOUT_MS,
      });
      for (const row of page.rows) {
        const l = label(row.get('key') as string);
        counts.set(l, (counts.get(l) ?? 0) + 1);
        total++;
      }
      onPage?.(total);
      pageState = page.pageState ?? undefined;
    } while (pageState !== undefined);
    return counts;
  } finally {
    await client.shutdown();
  }
}
