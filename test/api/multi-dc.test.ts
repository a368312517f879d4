/**
 * Two data centres (tools/cassandra's two-DC test cluster of the line under test,
 * one replica in each), a Firkin in each. Reads and writes need only the local
 * data centre (LOCAL_QUORUM); deletes need every data centre (EACH_QUORUM), so
 * with dc2 down a delete answers 503, never a 204 that dc2 did not see.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CASSANDRA_UNDER_TEST, clusterConfig, configSection, createTables, TEST_NODES } from '../helpers/cassandra.js';
import { request } from '../helpers/http.js';
import { until } from '../helpers/wait.js';
import { startTestService, type TestService } from '../helpers/service.js';
import { killNode, startNode } from '../../tools/cassandra/node.js';

const DC2_NODE = TEST_NODES.cluster.find((n) => n.dc === 'dc2')!;

async function firkinIn(dc: 'dc1' | 'dc2'): Promise<TestService> {
  const c = await clusterConfig(dc);
  return startTestService({
    storage: 'cassandra',
    cassandra: configSection(c),
    namespaces: [{ name: 'sessions', base_uri: '/sessions/v1/', default_ttl: 3600, table: 'mdc_sessions' }],
  });
}

describe(`two data centres (${CASSANDRA_UNDER_TEST})`, () => {
  let dc1: TestService;
  let dc2: TestService;
  before(async () => {
    await createTables(await clusterConfig('dc1'), 'mdc_sessions');
    dc1 = await firkinIn('dc1');
    dc2 = await firkinIn('dc2');
  });
  after(async () => {
    await startNode(DC2_NODE); // leave the cluster whole for whoever runs next
  });

  it('reads in dc2 what was written in dc1, and a delete in dc2 removes it in dc1', async () => {
    const key = `enwiki:MWSession:${randomBytes(16).toString('hex')}`;
    const value = randomBytes(1024);
    assert.equal((await request(dc1.base + encodeURIComponent(key), { method: 'POST', body: value })).status, 201);
    // A write is acknowledged by dc1's quorum (LOCAL_QUORUM, as Kask's); dc2 gets it
    // asynchronously, within milliseconds on this cluster, so dc2 is read until it has it.
    let got: Buffer | undefined;
    await until(
      async () => {
        const reply = await request(dc2.base + encodeURIComponent(key));
        got = reply.body;
        return reply.status === 200;
      },
      'dc2 to have the write',
      5000,
      20,
    );
    assert.ok(got?.equals(value));
    assert.equal((await request(dc2.base + encodeURIComponent(key), { method: 'DELETE' })).status, 204);
    assert.equal((await request(dc1.base + encodeURIComponent(key))).status, 404);
  });

  it('with dc2 down, dc1 keeps reading and writing; deletes answer 503 until dc2 is back', async (t) => {
    const keys = Array.from({ length: 20 }, () => randomUUID());
    await killNode(DC2_NODE);
    t.diagnostic('dc2 killed (SIGKILL)');

    const writes = await Promise.all(keys.map((k) => request(dc1.base + k, { method: 'POST', body: `v-${k}` })));
    assert.deepEqual(new Set(writes.map((r) => r.status)), new Set([201]), 'every POST in dc1 succeeds');
    const reads = await Promise.all(keys.map((k) => request(dc1.base + k)));
    assert.deepEqual(new Set(reads.map((r) => r.status)), new Set([200]), 'every GET in dc1 succeeds');

    for (const key of keys.slice(0, 3)) {
      const del = await request(dc1.base + key, { method: 'DELETE' });
      assert.equal(del.status, 503, 'a delete that cannot reach dc2 is not acknowledged');
      assert.equal(del.headers['retry-after'], '1');
    }
    t.diagnostic('20 POST + 20 GET answered 201/200, 3 DELETE answered 503');

    await startNode(DC2_NODE);
    t.diagnostic('dc2 restarted');
    // While dc2 rejoins, gossip may still mark it down for a moment: a delete answers 503
    // (never a false 204) until the coordinator sees it up. Each delete must reach 204.
    const deadline = Date.now() + 90_000;
    let transient = 0;
    for (const key of keys) {
      let status = 0;
      while (status !== 204 && Date.now() < deadline) {
        status = (await request(dc1.base + key, { method: 'DELETE' })).status;
        if (status !== 204) {
          assert.equal(status, 503, 'a delete either succeeds or says unavailable');
          transient++;
          await sleep(500);
        }
      }
      assert.equal(status, 204, 'deletes succeed again once dc2 is back');
    }
    t.diagnostic(`20 DELETE answered 204 after dc2 returned (${transient} transient 503 while it rejoined)`);
    // dc2 saw the deletes too (it took part in each EACH_QUORUM).
    let gone = false;
    while (!gone && Date.now() < deadline) {
      gone = (await request(dc2.base + keys[5]!)).status === 404;
      if (!gone) await sleep(500);
    }
    assert.ok(gone, 'dc2 no longer serves a deleted key');
  });
});
