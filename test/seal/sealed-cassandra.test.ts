/** Every conformance test of the storage interface, on sealed namespaces on Cassandra: plain writes and conditional_writes. */
import { CassandraEngine } from '../../src/storage/cassandra/cassandra-engine.js';
import { CASSANDRA_UNDER_TEST, createTables, singleNodeConfig } from '../helpers/cassandra.js';
import { CONFORMANCE_NAMESPACES, storageConformance } from '../storage/conformance.js';
import { sealedEngine } from './sealed-engine.js';

async function open(): Promise<CassandraEngine> {
  const config = await singleNodeConfig();
  await createTables(config, ...CONFORMANCE_NAMESPACES.map((n) => n.table));
  const engine = new CassandraEngine({ config });
  await engine.waitUntilConnected(30_000);
  return engine;
}

storageConformance(`${CASSANDRA_UNDER_TEST}, sealed (plain writes)`, async () => sealedEngine(await open()), {}, { conditions: false });
storageConformance(`${CASSANDRA_UNDER_TEST}, sealed (conditional_writes)`, async () => sealedEngine(await open()), { conditionalWrites: true });
