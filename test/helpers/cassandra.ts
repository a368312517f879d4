/**
 * Access to the real Cassandra nodes that `npm test` starts (scripts/test.mjs runs
 * `tools/cassandra` before the tests and stops the nodes afterwards).
 */
import assert from 'node:assert/strict';
import cassandra from 'cassandra-driver';
import type { CassandraConfig, NamespaceConfig } from '../../src/config/load.js';
import { applySchema } from '../../src/storage/cassandra/schema.js';
import { CLUSTER, cqlAnswers, SINGLE } from '../../tools/cassandra/node.js';

export const TEST_KEYSPACE = 'firkin_test';

/** Config for the single test node; fails the test (never skips) when it is not running. */
export async function singleNodeConfig(overrides: Partial<CassandraConfig> = {}): Promise<CassandraConfig> {
  assert.ok(
    await cqlAnswers(SINGLE.listen),
    `no Cassandra answers on ${SINGLE.listen}:9042: run the tests with \`npm test\`, which starts it (or \`npm run cassandra -- start\`)`,
  );
  return {
    hosts: [SINGLE.listen],
    port: 9042,
    keyspace: TEST_KEYSPACE,
    localDc: 'datacenter1',
    replication: { datacenter1: 1 },
    queryTimeoutMs: 12_000,
    connectTimeoutMs: 5_000,
    authentication: undefined,
    tls: undefined,
    ...overrides,
  };
}

export function namespaceTables(...tables: string[]): NamespaceConfig[] {
  return tables.map((t) => ({ name: t, baseUri: `/${t}/`, defaultTtl: 3600, table: t, access: undefined, rateLimit: undefined, conditionalWrites: false, serialConsistency: 'local_serial' }));
}

export async function createTables(config: CassandraConfig, ...tables: string[]): Promise<void> {
  await applySchema(config, namespaceTables(...tables));
}

/** A bare driver client, to act as Kask (or an operator) would on the same tables. */
export function rawClient(config: CassandraConfig): cassandra.Client {
  return new cassandra.Client({
    contactPoints: [...config.hosts],
    localDataCenter: config.localDc,
    protocolOptions: { port: config.port },
  });
}

/** Config for one data centre of the two-DC test cluster (tools/cassandra CLUSTER). */
export async function clusterConfig(dc: 'dc1' | 'dc2', overrides: Partial<CassandraConfig> = {}): Promise<CassandraConfig> {
  const node = CLUSTER.find((n) => n.dc === dc)!;
  assert.ok(
    await cqlAnswers(node.listen),
    `no Cassandra answers on ${node.listen}:9042: run the tests with \`npm test\`, which starts the cluster (or \`npm run cassandra -- cluster start\`)`,
  );
  return {
    hosts: [node.listen],
    port: 9042,
    keyspace: 'firkin_multidc',
    localDc: dc,
    replication: { dc1: 1, dc2: 1 },
    queryTimeoutMs: 4_000,
    connectTimeoutMs: 5_000,
    authentication: undefined,
    tls: undefined,
    ...overrides,
  };
}
