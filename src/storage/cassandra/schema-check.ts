/**
 * Whether the schema Firkin expects is there (schema.ts): the keyspace, and each
 * namespace's table with Kask's columns (`key text PRIMARY KEY, value blob`), read
 * from the node's own schema tables (system_schema.keyspaces and .columns; local
 * reads, a few rows). The engine runs it once connected and at every readiness probe
 * (cassandra-engine.ts): a missing piece keeps /readyz at 503 and is logged once, in
 * one line naming it and the command that creates it, until it is there.
 */
import cassandra from 'cassandra-driver';
import type { PermanentCause } from '../errors.js';
import type { CqlSession } from './cassandra-store.js';

/** What is wrong with one namespace's table (or the whole keyspace). */
export interface SchemaProblem {
  readonly cause: Extract<PermanentCause, 'missing-keyspace' | 'missing-table' | 'table-mismatch'>;
  /** The namespaces it takes out of service. */
  readonly namespaces: readonly string[];
  /** In words, naming the keyspace or table (for the log, not for clients). */
  readonly text: string;
}

/** A namespace and the table it is stored in. */
export interface ExpectedTable {
  readonly namespace: string;
  readonly table: string;
}

const KEYSPACE = 'SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = ?';
const COLUMNS = 'SELECT table_name, column_name, kind, type FROM system_schema.columns WHERE keyspace_name = ?';

/** The columns each table must have, as system_schema.columns describes them. */
const EXPECTED: Readonly<Record<string, { readonly kind: string; readonly type: string }>> = {
  key: { kind: 'partition_key', type: 'text' },
  value: { kind: 'regular', type: 'blob' },
};

/** The problems with the schema of `keyspace` for `tables`; none when it is as Firkin expects. */
export async function checkSchema(session: CqlSession, keyspace: string, tables: readonly ExpectedTable[], timeoutMs: number): Promise<SchemaProblem[]> {
  const options = { consistency: cassandra.types.consistencies.localOne, readTimeout: timeoutMs };
  const how = { lwt: false, where: 'system_schema' };
  // One round trip: both at once.
  const [ks, rows] = await Promise.all([session.execute(KEYSPACE, [keyspace], options, how), session.execute(COLUMNS, [keyspace], { ...options, fetchSize: 10_000 }, how)]);
  if (ks.rowLength === 0) {
    return [{ cause: 'missing-keyspace', namespaces: tables.map((t) => t.namespace), text: `keyspace "${keyspace}" does not exist` }];
  }
  const columns = new Map<string, Map<string, { kind: string; type: string }>>();
  for (const row of rows.rows) {
    const table = String(row.get('table_name'));
    if (!columns.has(table)) columns.set(table, new Map());
    columns.get(table)!.set(String(row.get('column_name')), { kind: String(row.get('kind')), type: String(row.get('type')) });
  }
  const byTable = new Map<string, string[]>();
  for (const t of tables) byTable.set(t.table, [...(byTable.get(t.table) ?? []), t.namespace]);
  const problems: SchemaProblem[] = [];
  for (const [table, namespaces] of byTable) {
    const found = columns.get(table);
    const name = `"${keyspace}"."${table}"`;
    if (found === undefined) {
      problems.push({ cause: 'missing-table', namespaces, text: `table ${name} does not exist` });
      continue;
    }
    const wrong = Object.entries(EXPECTED)
      .filter(([column, want]) => found.get(column)?.kind !== want.kind || found.get(column)?.type !== want.type)
      .map(([column, want]) => `${column} ${want.type}${want.kind === 'partition_key' ? ' PRIMARY KEY' : ''}`);
    const extraKeys = [...found].filter(([column, c]) => column !== 'key' && (c.kind === 'partition_key' || c.kind === 'clustering')).map(([column]) => column);
    if (wrong.length > 0 || extraKeys.length > 0) {
      const has = [...found].map(([column, c]) => `${column} ${c.type}${c.kind === 'regular' ? '' : ` (${c.kind})`}`).join(', ');
      problems.push({ cause: 'table-mismatch', namespaces, text: `table ${name} has columns ${has}, not Kask's (key text PRIMARY KEY, value blob)` });
    }
  }
  return problems;
}
