/**
 * Access to the real Cassandra nodes that `npm test` starts (scripts/test.mjs runs
 * `tools/cassandra` before the tests and stops the nodes afterwards).
 *
 * The Cassandra tests run once per release line: on 5.0 by default, on 4.1 when
 * FIRKIN_TEST_CASSANDRA=4.1 (scripts/test.mjs runs them that way in a phase of their own).
 */
import assert from 'node:assert/strict';
import cassandra from 'cassandra-driver';
import type { CassandraConfig, NamespaceConfig } from '../../src/config/load.js';
import { applySchema } from '../../src/storage/cassandra/schema.js';
import { CASSANDRA_VERSION, cqlAnswers, NODES, releaseLine, type NodeSpec } from '../../tools/cassandra/node.js';

export const TEST_KEYSPACE = 'firkin_test';

/** The release line under test, its nodes, and a label for test names ("Cassandra 4.1.10"). */
export const TEST_LINE = releaseLine(process.env.FIRKIN_TEST_CASSANDRA ?? '5.0');
export const TEST_NODES = NODES[TEST_LINE];
export const CASSANDRA_UNDER_TEST = `Cassandra ${TEST_NODES.single.version ?? CASSANDRA_VERSION}`;
const startHint = (what: string): string =>
  `run the tests with \`npm test\`, which starts it (or \`npm run cassandra -- ${what} --version ${TEST_LINE}\`)`;

const checkedVersion = new Map<string, Promise<void>>();
/** Fails unless the node at `host` runs the release line under test (a node left running from another version would pass for it). */
function assertLine(host: string): Promise<void> {
  let check = checkedVersion.get(host);
  if (check === undefined) {
    check = (async () => {
      const { AllowListPolicy, RoundRobinPolicy } = cassandra.policies.loadBalancing;
      const client = new cassandra.Client({
        contactPoints: [host],
        policies: { loadBalancing: new AllowListPolicy(new RoundRobinPolicy(), [`${host}:9042`]) },
      });
      try {
        const version = String((await client.execute('SELECT release_version FROM system.local')).first().get('release_version'));
        assert.ok(version.startsWith(`${TEST_LINE}.`), `the node on ${host} runs Cassandra ${version}, not ${TEST_LINE}: stop it (npm run cassandra -- stop --version ${TEST_LINE}) and run the tests again`);
      } finally {
        await client.shutdown();
      }
    })();
    checkedVersion.set(host, check);
  }
  return check;
}

/** Config for the single test node; fails the test (never skips) when it is not running. */
export async function singleNodeConfig(overrides: Partial<CassandraConfig> = {}): Promise<CassandraConfig> {
  const { single } = TEST_NODES;
  assert.ok(await cqlAnswers(single.listen), `no ${CASSANDRA_UNDER_TEST} answers on ${single.listen}:9042: ${startHint('start')}`);
  await assertLine(single.listen);
  return {
    hosts: [single.listen],
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
  return tables.map((t) => ({ name: t, baseUri: `/${t}/`, defaultTtl: 3600, table: t, access: undefined, rateLimit: undefined, conditionalWrites: false, serialConsistency: 'local_serial', sealing: 'plain' }));
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

/** The config file's `cassandra:` section for `c` (what startTestService takes). */
export function configSection(c: CassandraConfig, table?: string): Record<string, unknown> {
  return {
    hosts: c.hosts,
    port: c.port,
    keyspace: c.keyspace,
    local_dc: c.localDc,
    replication: c.replication,
    query_timeout_ms: c.queryTimeoutMs,
    connect_timeout_ms: c.connectTimeoutMs,
    ...(table === undefined ? {} : { table }),
  };
}

/** Config for dc1 of a fault test's private two-DC cluster (one replica in each data centre). */
export function privateClusterConfig(dc1: NodeSpec, keyspace: string): CassandraConfig {
  return {
    hosts: [dc1.listen],
    port: 9042,
    keyspace,
    localDc: 'dc1',
    replication: { dc1: 1, dc2: 1 },
    queryTimeoutMs: 12_000,
    connectTimeoutMs: 5000,
    authentication: undefined,
    tls: undefined,
  };
}

/** Config for one data centre of the two-DC test cluster (tools/cassandra NODES[line].cluster). */
export async function clusterConfig(dc: 'dc1' | 'dc2', overrides: Partial<CassandraConfig> = {}): Promise<CassandraConfig> {
  const node = TEST_NODES.cluster.find((n) => n.dc === dc)!;
  assert.ok(await cqlAnswers(node.listen), `no ${CASSANDRA_UNDER_TEST} answers on ${node.listen}:9042: ${startHint('cluster start')}`);
  await assertLine(node.listen);
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

/** The engines the black-box HTTP suites (contract, MediaWiki) run on. */
export type EngineUnderTest = 'embedded' | 'cassandra';
/**
 * Both engines in the main test phase; in a Cassandra line's own phase
 * (FIRKIN_TEST_CASSANDRA set), Cassandra alone: the embedded runs are the main phase's.
 */
export const HTTP_ENGINES: readonly EngineUnderTest[] = process.env.FIRKIN_TEST_CASSANDRA ? ['cassandra'] : ['embedded', 'cassandra'];

export function engineLabel(engine: EngineUnderTest): string {
  return engine === 'embedded' ? 'embedded engine' : CASSANDRA_UNDER_TEST;
}

/**
 * A test service config (startTestService) on `engine`: for Cassandra, the single test
 * node and `table` (created here) for the one namespace, with `conditionalWrites` (for
 * atomic add and compare-and-set, served as on the embedded engine) or without (Kask's
 * plain writes, what MediaWiki meets while Kask still shares the table).
 */
export async function onEngine(
  engine: EngineUnderTest,
  table: string,
  config: Record<string, unknown>,
  conditionalWrites: boolean,
): Promise<Record<string, unknown>> {
  if (engine === 'embedded') return config;
  const c = await singleNodeConfig();
  await createTables(c, table);
  return {
    storage: 'cassandra',
    cassandra: configSection(c, table),
    conditional_writes: conditionalWrites,
    ...config,
  };
}
