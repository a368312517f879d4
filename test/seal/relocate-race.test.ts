/**
 * A sealed namespace's rotation on Cassandra, at its most delicate: a session moving
 * from an older key to the active one (EngineStore.relocate, as a touch does) while
 * its user logs out (deleteAll of every copy) or writes it again. Whatever lands
 * between the relocation's read of the old copy and its write of the new one, a
 * deleted session never comes back and a newer write is never overwritten: in plain
 * (Kask-mode) namespaces by timestamps, in conditional_writes ones by Paxos and the
 * deletion marker.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { CassandraEngine } from '../../src/storage/cassandra/cassandra-engine.js';
import { CASSANDRA_UNDER_TEST, createTables, singleNodeConfig } from '../helpers/cassandra.js';

const TABLE = 'relocate_race';
const upper = (v: Buffer): Buffer => Buffer.from(v.toString().toUpperCase());

for (const conditionalWrites of [false, true]) {
  describe(`relocate under a race (${CASSANDRA_UNDER_TEST}, ${conditionalWrites ? 'conditional_writes' : 'plain writes'})`, () => {
    let engine: CassandraEngine;
    before(async () => {
      const config = await singleNodeConfig();
      await createTables(config, TABLE);
      engine = new CassandraEngine({ config });
      await engine.waitUntilConnected(30_000);
    });
    after(() => engine?.close());

    /** Run `meanwhile` just before the relocation writes its new copy under `to`. */
    async function racing(to: string, meanwhile: () => Promise<unknown>, relocation: () => Promise<unknown>): Promise<void> {
      const execute = engine.execute.bind(engine);
      let pending: (() => Promise<unknown>) | undefined = meanwhile;
      engine.execute = async (query, params, options, how) => {
        const writesTo = conditionalWrites ? how.where.endsWith(' add') && params[2] === to : how.where.endsWith(' touch') && params[0] === to;
        if (writesTo && pending !== undefined) {
          const run = pending;
          pending = undefined;
          await run();
        }
        return execute(query, params, options, how);
      };
      try {
        await relocation();
        assert.equal(pending, undefined, 'the race ran between the read and the write');
      } finally {
        engine.execute = execute;
      }
    }

    it('never brings back a session deleted (every copy) while it moved', async () => {
      const store = engine.store({ name: `race_${conditionalWrites}`, table: TABLE, conditionalWrites });
      const [from, to] = [`s1:old:${randomUUID()}`, `s1:new:${randomUUID()}`];
      await store.set(from, Buffer.from('logged in'), 600);
      let moved: unknown;
      await racing(to, () => store.deleteAll([to, from]), async () => (moved = await store.relocate(from, to, upper, 600)));
      assert.equal(await store.get(to), undefined, 'still logged out');
      assert.equal(await store.get(from), undefined);
      if (conditionalWrites) assert.equal(moved, undefined, 'the relocation saw the marker');
      // The key is writable again, also by an add (If-None-Match: *) over the marker.
      assert.ok((await store.set(to, Buffer.from('logged in again'), 60, conditionalWrites ? { kind: 'absent' } : undefined)).applied);
      assert.equal((await store.get(to))?.value.toString(), 'logged in again');
    });

    it('never overwrites a write that landed under the new key while it moved', async () => {
      const store = engine.store({ name: `race_w_${conditionalWrites}`, table: TABLE, conditionalWrites });
      const [from, to] = [`s1:old:${randomUUID()}`, `s1:new:${randomUUID()}`];
      await store.set(from, Buffer.from('old session'), 600);
      await racing(to, () => store.set(to, Buffer.from('new session'), 600), () => store.relocate(from, to, upper, 600));
      assert.equal((await store.get(to))?.value.toString(), 'new session');
      assert.equal(await store.get(from), undefined);
    });
  });
}
