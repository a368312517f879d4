/**
 * The CQL schema Firkin expects: Kask's table layout, one table per namespace,
 * in a keyspace replicated per data centre. `firkin schema` prints it;
 * `--apply` runs it (idempotently: IF NOT EXISTS).
 */
import type { CassandraConfig, NamespaceConfig } from '../../config/types.js';

/** Identifiers are quoted exactly as configured, as Kask does ("keyspace"."table"). */
export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Tombstones must outlive any value they could shadow: at least the longest TTL, else Cassandra's default. */
export function gcGraceSeconds(defaultTtl: number): number {
  return defaultTtl > 0 ? Math.max(defaultTtl, 3600) : 864_000;
}

export function schemaStatements(cassandra: CassandraConfig, namespaces: readonly NamespaceConfig[]): string[] {
  const keyspace = quoteIdentifier(cassandra.keyspace);
  const replication = Object.entries(cassandra.replication)
    .map(([dc, rf]) => `'${dc.replaceAll("'", "''")}': ${rf}`)
    .join(', ');
  return [
    `CREATE KEYSPACE IF NOT EXISTS ${keyspace} WITH replication = {'class': 'NetworkTopologyStrategy', ${replication}}`,
    ...namespaces.map(
      (ns) =>
        `CREATE TABLE IF NOT EXISTS ${keyspace}.${quoteIdentifier(ns.table)} (key text PRIMARY KEY, value blob)` +
        ` WITH compaction = {'class': 'LeveledCompactionStrategy'}` +
        ` AND gc_grace_seconds = ${gcGraceSeconds(ns.defaultTtl)}` +
        ` AND comment = 'Firkin namespace ${ns.name}'`,
    ),
  ];
}

/**
 * Run the schema statements against the configured cluster (the driver waits for
 * schema agreement after each). Idempotent: every statement is IF NOT EXISTS.
 */
export async function applySchema(config: CassandraConfig, namespaces: readonly NamespaceConfig[]): Promise<void> {
  const { default: cassandra } = await import('cassandra-driver');
  const { clientOptions } = await import('./client-options.js');
  const client = new cassandra.Client(clientOptions(config, { withKeyspace: false }));
  try {
    await client.connect();
    for (const statement of schemaStatements(config, namespaces)) {
      await client.execute(statement, [], { readTimeout: 60_000 });
    }
  } finally {
    await client.shutdown();
  }
}
