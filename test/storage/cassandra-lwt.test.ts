/**
 * Lightweight transactions mixed with plain writes, on a real node, with a skewed
 * client clock. A lightweight transaction (add, replace, compare-and-set) takes its
 * write timestamp from the coordinator's Paxos ballot; a plain write or delete takes
 * the driver's client-side timestamp. When the client's clock runs ahead of the
 * coordinator's (here by 5 s, through the driver's timestamp generator), a plain
 * mutation shadows the lightweight transactions that follow it: they report success
 * and are invisible. The anomalies below mix a plain store's writes with a conditional
 * store's transactions on the same table (a plain store takes no condition at all, so
 * Firkin itself never mixes them). With `conditional_writes` every write and delete of
 * the namespace goes through Paxos and the same sequences are correct.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import cassandra from 'cassandra-driver';
import { CassandraEngine } from '../../src/storage/cassandra/cassandra-engine.js';
import type { KeyValueStore } from '../../src/storage/engine.js';
import { CASSANDRA_UNDER_TEST, createTables, rawClient, singleNodeConfig } from '../helpers/cassandra.js';

const KEYSPACE = 'firkin_lwt';
const TABLE = 'lwt_skew';

/** The driver's own generator, with the client's clock `skewMs` off the coordinator's. */
class SkewedClock extends cassandra.policies.timestampGeneration.MonotonicTimestampGenerator {
  constructor(private readonly skewMs: number) {
    super(1e9, 0); // no drift warnings: the drift is the point
  }
  override getDate(): number {
    return Date.now() + this.skewMs;
  }
}

async function engineWithClock(skewMs: number): Promise<CassandraEngine> {
  const config = await singleNodeConfig({ keyspace: KEYSPACE });
  const engine = new CassandraEngine({ config, timestampGeneration: new SkewedClock(skewMs) });
  await engine.waitUntilConnected(30_000);
  return engine;
}

const text = async (store: KeyValueStore, key: string): Promise<string | undefined> => (await store.get(key))?.value.toString();

for (const [clock, skewMs] of [
  ['ahead', 5000],
  ['behind', -5000],
] as const) {
  describe(`a client clock 5 s ${clock === 'ahead' ? 'ahead of' : 'behind'} the coordinator's`, () => {
    let engine: CassandraEngine;
    let plain: KeyValueStore;
    let paxos: KeyValueStore;
    const key = (label: string): string => `skew-${clock}-${label}-${randomUUID()}`;

    before(async () => {
      await createTables(await singleNodeConfig({ keyspace: KEYSPACE }), TABLE);
      engine = await engineWithClock(skewMs);
      plain = engine.store({ name: 'plain', table: TABLE });
      paxos = engine.store({ name: 'paxos', table: TABLE, conditionalWrites: true });
    });
    after(() => engine?.close());

    if (clock === 'ahead') {
      it('without conditional_writes: DELETE then add answers applied, yet the value is invisible (the anomaly)', async () => {
        const k = key('delete-add');
        await plain.set(k, Buffer.from('session'), 60);
        await plain.delete(k);
        const add = await paxos.set(k, Buffer.from('new session'), 60, { kind: 'absent' });
        assert.equal(add.applied, true, 'the add reports success (HTTP 201)');
        assert.equal(await plain.get(k), undefined, 'but the tombstone, 5 s in the future, shadows it (GET 404)');
      });

      it('without conditional_writes: a compare-and-set after a plain write answers applied and is lost (the anomaly)', async () => {
        const k = key('write-cas');
        const first = await plain.set(k, Buffer.from('one'), 60);
        assert.ok(first.applied);
        const cas = await paxos.set(k, Buffer.from('two'), 60, { kind: 'version', versions: [first.version] });
        assert.equal(cas.applied, true, 'the compare-and-set reports success');
        assert.equal(await text(plain, k), 'one', 'but the plain write, 5 s in the future, wins');
      });
    } else {
      it('without conditional_writes: a plain write after a compare-and-set answers 201 and is lost (the anomaly)', async () => {
        const k = key('cas-write');
        const first = await plain.set(k, Buffer.from('one'), 60);
        assert.ok(first.applied);
        assert.ok((await paxos.set(k, Buffer.from('two'), 60, { kind: 'version', versions: [first.version] })).applied);
        assert.equal(await text(plain, k), 'two');
        assert.ok((await plain.set(k, Buffer.from('three'), 60)).applied, 'the plain write reports success');
        assert.equal(await text(plain, k), 'two', 'but its timestamp, 5 s in the past, loses to the Paxos ballot');
      });

      it('without conditional_writes: a DELETE after an add answers 204 and the value stays (the anomaly)', async () => {
        const k = key('add-delete');
        assert.ok((await paxos.set(k, Buffer.from('session'), 60, { kind: 'absent' })).applied);
        await plain.delete(k);
        assert.equal(await text(plain, k), 'session', 'a logged-out session is still readable');
      });
    }

    it('a plain store refuses a condition outright: it cannot issue a lightweight transaction', async () => {
      assert.equal(plain.acceptsConditions, false);
      assert.equal(paxos.acceptsConditions, true);
      const k = key('refused');
      for (const condition of [{ kind: 'absent' }, { kind: 'present' }, { kind: 'version', versions: ['v'] }] as const) {
        await assert.rejects(plain.set(k, Buffer.from('x'), 60, condition), TypeError);
      }
      assert.equal(await plain.get(k), undefined, 'nothing was written');
    });

    it('with conditional_writes: DELETE then add stores the value, and a compare-and-set after a write holds', async () => {
      const k = key('paxos');
      await paxos.set(k, Buffer.from('session'), 60);
      await paxos.delete(k);
      assert.equal(await paxos.get(k), undefined, 'the delete took effect');
      const add = await paxos.set(k, Buffer.from('new session'), 60, { kind: 'absent' });
      assert.equal(add.applied, true);
      assert.equal(await text(paxos, k), 'new session', 'the added value is readable');

      const one = await paxos.set(k, Buffer.from('one'), 60);
      assert.ok(one.applied);
      assert.equal(await text(paxos, k), 'one', 'a plain write after the add is not lost');
      const cas = await paxos.set(k, Buffer.from('two'), 60, { kind: 'version', versions: [one.version] });
      assert.equal(cas.applied, true);
      assert.equal(await text(paxos, k), 'two', 'the compare-and-set after a plain write is not lost');
      const three = await paxos.set(k, Buffer.from('three'), 60);
      assert.ok(three.applied);
      assert.equal(await text(paxos, k), 'three', 'a plain write after the compare-and-set is not lost');
      await paxos.delete(k);
      assert.equal(await paxos.get(k), undefined, 'a delete after the compare-and-set is not lost');
      const stale = await paxos.set(k, Buffer.from('four'), 60, { kind: 'version', versions: [three.version] });
      assert.equal(stale.applied, false, 'nor does a compare-and-set resurrect it');
    });

    it('with conditional_writes: 50 rounds of write, delete, add and compare-and-set never lose an acknowledged write', async () => {
      for (let i = 0; i < 50; i++) {
        const k = key(`round-${i}`);
        await paxos.set(k, Buffer.from(`w${i}`), 60);
        await paxos.delete(k);
        const added = await paxos.set(k, Buffer.from(`a${i}`), 60, { kind: 'absent' });
        assert.ok(added.applied);
        assert.equal(await text(paxos, k), `a${i}`);
        assert.ok((await paxos.set(k, Buffer.from(`c${i}`), 60, { kind: 'version', versions: [added.version] })).applied);
        await paxos.set(k, Buffer.from(`p${i}`), 60);
        assert.equal(await text(paxos, k), `p${i}`);
      }
    });
  });
}

describe(`conditional_writes in a keyspace without data centres (SimpleStrategy, ${CASSANDRA_UNDER_TEST})`, () => {
  it('deletes through Paxos at QUORUM, as Cassandra refuses EACH_QUORUM there', async () => {
    const base = await singleNodeConfig();
    const raw = rawClient(base);
    await raw.execute(`CREATE KEYSPACE IF NOT EXISTS "firkin_lwt_simple" WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}`);
    await raw.execute(`CREATE TABLE IF NOT EXISTS "firkin_lwt_simple"."t" (key text PRIMARY KEY, value blob)`);
    await raw.shutdown();
    const engine = new CassandraEngine({ config: await singleNodeConfig({ keyspace: 'firkin_lwt_simple' }) });
    try {
      await engine.waitUntilConnected(30_000);
      const store = engine.store({ name: 'simple', table: 't', conditionalWrites: true });
      const k = randomUUID();
      assert.ok((await store.set(k, Buffer.from('x'), 60)).applied);
      await store.delete(k);
      assert.equal(await store.get(k), undefined);
    } finally {
      await engine.close();
    }
  });
});
