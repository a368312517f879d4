/**
 * The Cassandra engine on a real Cassandra: the same conformance suite as the
 * embedded engine, plus interoperability with Kask on an unaltered Kask table.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import cassandra from 'cassandra-driver';
import type { CassandraConfig } from '../../src/config/load.js';
import { CassandraEngine } from '../../src/storage/cassandra/cassandra-engine.js';
import type { KeyValueStore } from '../../src/storage/engine.js';
import { StorageError } from '../../src/storage/errors.js';
import { MAX_TTL_SECONDS } from '../../src/config/schema.js';
import { storableTtl } from '../../src/storage/cassandra/expiry.js';
import { CASSANDRA_UNDER_TEST, createTables, rawClient, singleNodeConfig, TEST_KEYSPACE, TEST_LINE } from '../helpers/cassandra.js';
import { CONFORMANCE_NAMESPACES, engineStoreConformance, storageConformance } from './conformance.js';

async function openEngine(config: CassandraConfig): Promise<CassandraEngine> {
  const engine = new CassandraEngine({ config });
  await engine.waitUntilConnected(30_000);
  return engine;
}

async function conformanceEngine(): Promise<CassandraEngine> {
  const config = await singleNodeConfig();
  await createTables(config, ...CONFORMANCE_NAMESPACES.map((n) => n.table));
  return openEngine(config);
}

storageConformance(`${CASSANDRA_UNDER_TEST} (plain writes, Kask)`, conformanceEngine, {}, { conditions: false });
engineStoreConformance(`${CASSANDRA_UNDER_TEST} (plain writes, Kask)`, conformanceEngine);
engineStoreConformance(`${CASSANDRA_UNDER_TEST} (conditional_writes)`, conformanceEngine, { conditionalWrites: true });
storageConformance(`${CASSANDRA_UNDER_TEST} (conditional_writes: every write through Paxos)`, conformanceEngine, { conditionalWrites: true });
storageConformance(`${CASSANDRA_UNDER_TEST} (conditional_writes, serial_consistency: serial)`, conformanceEngine, {
  conditionalWrites: true,
  serialConsistency: 'serial',
});

describe(`cassandra engine and Kask on one table (${CASSANDRA_UNDER_TEST})`, () => {
  // Kask's statements, verbatim from its storage.go (gocql), run through a plain driver.
  const KASK = {
    set: `INSERT INTO "${TEST_KEYSPACE}"."kask_values" (key, value) VALUES (?,?) USING TTL ?`,
    get: `SELECT value, TTL(value) as ttl FROM "${TEST_KEYSPACE}"."kask_values" WHERE key = ?`,
    delete: `DELETE FROM "${TEST_KEYSPACE}"."kask_values" WHERE key = ?`,
  };
  const lq = { prepare: true, consistency: cassandra.types.consistencies.localQuorum };
  let kask: cassandra.Client;
  let engine: CassandraEngine;
  let store: KeyValueStore;

  before(async () => {
    const config = await singleNodeConfig();
    kask = rawClient(config);
    // The table exactly as Kask's cassandra_schema.cql creates it: nothing added.
    await kask.execute(
      `CREATE KEYSPACE IF NOT EXISTS "${TEST_KEYSPACE}" WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}`,
    );
    await kask.execute(`CREATE TABLE IF NOT EXISTS "${TEST_KEYSPACE}"."kask_values" (key text PRIMARY KEY, value blob)`);
    engine = await openEngine(config);
    store = engine.store({ name: 'kask', table: 'kask_values' });
  });
  after(async () => {
    await engine?.close();
    await kask?.shutdown();
  });

  it('reads what Kask wrote, with its TTL', async () => {
    const key = `enwiki:MWSession:${randomBytes(16).toString('hex')}`;
    const value = randomBytes(1500);
    await kask.execute(KASK.set, [key, value, 600], lq);
    const got = await store.get(key);
    assert.ok(got !== undefined && got.value.equals(value));
    assert.ok(got.ttl !== null && got.ttl <= 600 && got.ttl > 590);
    // Its version is keyed by the table's id: another engine (a restart, another instance) computes the same.
    const other = await openEngine(await singleNodeConfig());
    try {
      assert.equal((await other.store({ name: 'kask', table: 'kask_values' }).get(key))?.version, got.version);
      assert.equal((await other.store({ name: 'kask_paxos', table: 'kask_values', conditionalWrites: true }).get(key))?.version, got.version);
    } finally {
      await other.close();
    }
  });

  it('writes what Kask reads, with the TTL it was given', async () => {
    const key = `enwiki:MWSession:${randomBytes(16).toString('hex')}`;
    const value = randomBytes(1500);
    await store.set(key, value, 300);
    const row = (await kask.execute(KASK.get, [key], lq)).first();
    assert.ok((row.get('value') as Buffer).equals(value));
    const ttl = row.get('ttl') as number;
    assert.ok(ttl <= 300 && ttl > 290, `ttl ${ttl}`);
  });

  it('sees Kask deletes and Kask sees Firkin deletes', async () => {
    const a = `k-${randomUUID()}`;
    const b = `k-${randomUUID()}`;
    await store.set(a, Buffer.from('a'), 60);
    await kask.execute(KASK.set, [b, Buffer.from('b'), 60], lq);
    await kask.execute(KASK.delete, [a], { prepare: true, consistency: cassandra.types.consistencies.eachQuorum });
    await store.delete(b);
    assert.equal(await store.get(a), undefined);
    assert.equal((await kask.execute(KASK.get, [b], lq)).first(), null);
  });

  it('does add and compare-and-set on a Kask-written value without any schema change', async () => {
    const key = `k-${randomUUID()}`;
    await kask.execute(KASK.set, [key, Buffer.from('from kask'), 60], lq);
    const paxos = engine.store({ name: 'kask_paxos', table: 'kask_values', conditionalWrites: true });
    assert.equal((await paxos.set(key, Buffer.from('x'), 60, { kind: 'absent' })).applied, false);
    const read = await paxos.get(key);
    const cas = await paxos.set(key, Buffer.from('from firkin'), 60, { kind: 'version', versions: [read!.version] });
    assert.equal(cas.applied, true);
    const row = (await kask.execute(KASK.get, [key], lq)).first();
    assert.equal((row.get('value') as Buffer).toString(), 'from firkin');
    const columns = (await kask.execute(`SELECT * FROM "${TEST_KEYSPACE}"."kask_values" WHERE key = ?`, [key], lq)).columns.map((c) => c.name);
    assert.deepEqual(columns.sort(), ['key', 'value'], 'the table still has only Kask’s two columns');
  });

  it('with conditional_writes, writes and deletes through Paxos on rows Kask wrote, even an empty value', async () => {
    const paxos = engine.store({ name: 'kask_paxos', table: 'kask_values', conditionalWrites: true });
    const key = `k-${randomUUID()}`;
    await kask.execute(KASK.set, [key, Buffer.from('from kask'), 60], lq);
    assert.ok((await paxos.set(key, Buffer.from('from firkin'), 60)).applied);
    assert.equal(((await kask.execute(KASK.get, [key], lq)).first().get('value') as Buffer).toString(), 'from firkin');
    await paxos.delete(key);
    assert.equal((await kask.execute(KASK.get, [key], lq)).first(), null);
    // Kask stores an empty body as it is; Firkin never does. `IF value != 0x` fails on it, `IF value = 0x` holds.
    await kask.execute(KASK.set, [key, Buffer.alloc(0), 60], lq);
    assert.ok((await paxos.set(key, Buffer.from('over empty'), 60)).applied);
    assert.equal((await paxos.get(key))?.value.toString(), 'over empty');
    await kask.execute(KASK.set, [key, Buffer.alloc(0), 60], lq);
    await paxos.delete(key);
    assert.equal((await kask.execute(KASK.get, [key], lq)).first(), null, 'the empty value is deleted too');
  });

  it('caps a 20-year TTL at the last expiry Cassandra stores (2038), in both write modes', async () => {
    const value = Buffer.from('long-lived');
    // Sent as it is, 4.1 refuses it (as 5.0 does in its default storage_compatibility_mode, CASSANDRA_4;
    // the 5.0 test nodes run in NONE, which stores it).
    const raw = kask.execute(KASK.set, [`k-${randomUUID()}`, value, MAX_TTL_SECONDS], lq);
    if (TEST_LINE === '4.1') await assert.rejects(raw, /expiration|2038|maximum/i);
    else await raw;
    const paxos = engine.store({ name: 'kask_paxos', table: 'kask_values', conditionalWrites: true });
    for (const s of [store, paxos]) {
      const key = `k-${randomUUID()}`;
      // Taken before the write: the TTL read back can only be lower (time passes, Cassandra rounds down).
      const cap = storableTtl(MAX_TTL_SECONDS);
      assert.ok((await s.set(key, value, MAX_TTL_SECONDS)).applied);
      const ttl = (await s.get(key))?.ttl;
      assert.ok(ttl !== undefined && ttl !== null && ttl <= cap && ttl > cap - 60, `ttl ${ttl}, cap ${cap}`);
    }
  });

  it('touches 1 µs after the write time it read, and stamps its own writes even: a later Kask write or delete still wins', async () => {
    const writetime = async (key: string): Promise<bigint> =>
      BigInt(String((await kask.execute(`SELECT WRITETIME(value) AS w FROM "${TEST_KEYSPACE}"."kask_values" WHERE key = ?`, [key], lq)).first().get('w')));
    const key = `k-${randomUUID()}`;
    await store.set(key, Buffer.from('from firkin'), 60);
    const written = await writetime(key);
    assert.equal(written % 2n, 0n, 'Firkin stamps its writes even');
    assert.equal((await store.touch(key, 300))?.ttl, 300);
    assert.equal(await writetime(key), written + 1n);
    assert.equal((await store.touch(key, 400))?.ttl, 400);
    assert.equal(await writetime(key), written + 2n, 'a touch of a touch');
    // Kask's own write, a few milliseconds later: its timestamp is higher, so it wins with its own TTL.
    await new Promise((r) => setTimeout(r, 5));
    await kask.execute(KASK.set, [key, Buffer.from('from kask'), 30], lq);
    const got = await store.get(key);
    assert.equal(got?.value.toString(), 'from kask');
    assert.ok(got.ttl !== null && got.ttl <= 30);
    assert.equal((await store.touch(key, 120))?.version, got.version, 'the touch keeps the version of what it touched');
    await kask.execute(KASK.delete, [key], { prepare: true, consistency: cassandra.types.consistencies.eachQuorum });
    assert.equal(await store.get(key), undefined);
  });

  it('never lets a touch bring back a value a write or delete replaced between its read and its write', async () => {
    const execute = engine.execute.bind(engine);
    let meanwhile: (() => Promise<void>) | undefined;
    // Run `meanwhile` just before a touch's write reaches Cassandra.
    engine.execute = async (query, params, options, how) => {
      if (how?.where?.endsWith(' touch') && meanwhile !== undefined) {
        const run = meanwhile;
        meanwhile = undefined;
        await run();
      }
      return execute(query, params, options, how);
    };
    try {
      const key = `k-${randomUUID()}`;
      const old = await store.set(key, Buffer.from('old'), 60);
      meanwhile = async () => void (await store.set(key, Buffer.from('new'), 60));
      assert.equal((await store.touch(key, 600))?.version, old.applied && old.version, 'the touch read the old value');
      assert.equal(meanwhile, undefined, 'the write ran between the touch\'s read and its write');
      const got = await store.get(key);
      assert.equal(got?.value.toString(), 'new');
      assert.ok(got.ttl !== null && got.ttl <= 60, 'with its own lifetime');
      meanwhile = () => store.delete(key);
      assert.ok(await store.touch(key, 600));
      assert.equal(meanwhile, undefined, 'the delete ran between the touch\'s read and its write');
      assert.equal(await store.get(key), undefined, 'still deleted');
    } finally {
      engine.execute = execute;
    }
  });

  it('with conditional_writes, a touch that lost a race touches the value that won, once; a second lost race answers unavailable', async () => {
    const paxos = engine.store({ name: 'kask_paxos', table: 'kask_values', conditionalWrites: true });
    const execute = engine.execute.bind(engine);
    const replacements: string[] = [];
    const key = `k-${randomUUID()}`;
    // Before each of the touch's compare-and-sets, another client replaces the value.
    engine.execute = async (query, params, options, how) => {
      if (how?.where?.endsWith(' cas') && params[2] === key && replacements.length > 0) {
        await paxos.set(key, Buffer.from(replacements.shift()!), 60);
      }
      return execute(query, params, options, how);
    };
    try {
      await paxos.set(key, Buffer.from('one'), 60);
      replacements.push('two');
      const touched = await paxos.touch(key, 300);
      const got = await paxos.get(key);
      assert.deepEqual(touched, { version: got?.version, ttl: 300 }, 'it touched the value that won');
      assert.equal(got?.value.toString(), 'two');
      assert.ok(got.ttl !== null && got.ttl > 290, `ttl ${got.ttl}`);
      replacements.push('three', 'four');
      await assert.rejects(paxos.touch(key, 600), (err: unknown) => err instanceof StorageError && err.transient);
      const last = await paxos.get(key);
      assert.equal(last?.value.toString(), 'four');
      assert.ok(last.ttl !== null && last.ttl <= 60, 'the last write kept its own lifetime');
      // A value Kask stored empty is absent in a conditional_writes namespace (the empty blob is
      // its deletion marker), and present, empty, in a plain one.
      await kask.execute(KASK.set, [key, Buffer.alloc(0), 60], lq);
      assert.equal(await paxos.touch(key, 300), undefined);
      assert.equal(await paxos.get(key), undefined);
      assert.equal((await store.get(key))?.value.length, 0);
    } finally {
      engine.execute = execute;
    }
  });

  it('caps a touch at the last expiry Cassandra stores (2038), in both write modes', async () => {
    const paxos = engine.store({ name: 'kask_paxos', table: 'kask_values', conditionalWrites: true });
    for (const s of [store, paxos]) {
      const key = `k-${randomUUID()}`;
      assert.ok((await s.set(key, Buffer.from('x'), 60)).applied);
      const cap = storableTtl(MAX_TTL_SECONDS);
      const touched = await s.touch(key, MAX_TTL_SECONDS);
      assert.ok(touched?.ttl !== undefined && touched.ttl !== null && touched.ttl <= cap && touched.ttl > cap - 60, `ttl ${touched?.ttl}`);
      const ttl = (await s.get(key))?.ttl;
      assert.ok(ttl !== undefined && ttl !== null && ttl <= touched.ttl && ttl > cap - 60, `ttl ${ttl}, cap ${cap}`);
    }
  });

  it('treats a value written with TTL 0 as never expiring, as Kask does', async () => {
    const key = `k-${randomUUID()}`;
    await kask.execute(KASK.set, [key, Buffer.from('forever'), 0], lq);
    const got = await store.get(key);
    assert.equal(got?.ttl, null);
  });
});
