/**
 * Namespace truncation on Cassandra with a node down, on a private two-DC cluster
 * (tools/cassandra TRUNCATE_CLUSTER: dc1 on 127.0.0.51, dc2 on 127.0.0.52, one replica
 * each) that this file starts, stops and wipes: the shared clusters are never touched.
 *
 * Cassandra runs a TRUNCATE on every node and refuses it up front (unavailable) unless
 * all of them are up. Firkin answers 503 storage-unavailable and every value is still
 * there; once the node is back, the truncation succeeds, on both data centres, and the
 * other namespace keeps its values throughout.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import cassandra from 'cassandra-driver';
import { applySchema } from '../../src/storage/cassandra/schema.js';
import { startCluster } from '../../tools/cassandra/cluster.js';
import { startNode, stopNode, TRUNCATE_CLUSTER, wipeNode } from '../../tools/cassandra/node.js';
import { configSection, namespaceTables, privateClusterConfig } from '../helpers/cassandra.js';
import { request, type Reply } from '../helpers/http.js';
import { scrape } from '../helpers/prometheus.js';
import { tokenHash } from '../helpers/secrets.js';
import { startTestService, type TestService } from '../helpers/service.js';

const [DC1, DC2] = TRUNCATE_CLUSTER as [(typeof TRUNCATE_CLUSTER)[number], (typeof TRUNCATE_CLUSTER)[number]];
const KEYSPACE = 'firkin_truncate_fault';
const CASSANDRA = privateClusterConfig(DC1, KEYSPACE);
const ADMIN_TOKEN = 'oncall-token-6e0b2d9a7c41';
const AS_ADMIN = { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } };

/** A driver that talks to `node` only, as an operator's cqlsh would, and reports errors as they come (no retry). */
function clientOf(node: (typeof TRUNCATE_CLUSTER)[number]): cassandra.Client {
  const dc = node.dc!;
  return new cassandra.Client({
    contactPoints: [node.listen],
    localDataCenter: dc,
    keyspace: KEYSPACE,
    policies: {
      retry: new cassandra.policies.retry.FallthroughRetryPolicy(),
      loadBalancing: new cassandra.policies.loadBalancing.AllowListPolicy(new cassandra.policies.loadBalancing.DCAwareRoundRobinPolicy(dc), [
        `${node.listen}:9042`,
      ]),
    },
  });
}

describe('fault: truncating a namespace on Cassandra with a node down', () => {
  let t: TestService;
  const truncate = (): Promise<Reply> => request(`${t.url}/admin/namespaces/sessions/truncate`, { method: 'POST', ...AS_ADMIN });
  const statuses = async (urls: readonly string[]): Promise<number[]> => Promise.all(urls.map(async (u) => (await request(u)).status));

  before(async () => {
    for (const node of TRUNCATE_CLUSTER) {
      await stopNode(node);
      wipeNode(node);
    }
    await startCluster(240_000, TRUNCATE_CLUSTER);
    await applySchema(CASSANDRA, namespaceTables('sessions_t', 'tokens_t'));
    t = await startTestService({
      storage: 'cassandra',
      cassandra: configSection(CASSANDRA),
      namespaces: [
        { name: 'sessions', base_uri: '/sessions/v1/', table: 'sessions_t' },
        { name: 'tokens', base_uri: '/tokens/v1/', table: 'tokens_t' },
      ],
      admin: { tokens: [{ name: 'oncall', sha256: tokenHash(ADMIN_TOKEN) }] },
    });
  });
  after(async () => {
    await t?.close();
    for (const node of TRUNCATE_CLUSTER) {
      await stopNode(node, 2000);
      wipeNode(node);
    }
  });

  it('answers 503 and removes nothing while dc2 is down; truncates on every node once it is back', async (tc) => {
    const keys = Array.from({ length: 10 }, () => `enwiki:MWSession:${randomUUID()}`);
    const sessions = keys.map((k) => `${t.url}/sessions/v1/${k}`);
    const tokens = keys.map((k) => `${t.url}/tokens/v1/${k}`);
    for (const url of [...sessions, ...tokens]) assert.equal((await request(url, { method: 'PUT', body: 'session' })).status, 201);

    // A graceful stop tells dc1 through gossip; wait until dc1 refuses a read at ALL up front,
    // as it then refuses a TRUNCATE (before that, a TRUNCATE would wait for dc2 and time out).
    await stopNode(DC2);
    const dc1 = clientOf(DC1);
    try {
      const deadline = Date.now() + 60_000;
      for (;;) {
        const refused = await dc1
          .execute('SELECT key FROM sessions_t WHERE key = ?', [keys[0]], { prepare: true, consistency: cassandra.types.consistencies.all })
          .then(
            () => false,
            (err: { code?: number }) => err.code === cassandra.types.responseErrorCodes.unavailableException,
          );
        if (refused) break;
        assert.ok(Date.now() < deadline, 'dc1 never saw dc2 down');
        await sleep(500);
      }
    } finally {
      await dc1.shutdown();
    }

    const refused = await truncate();
    const failed = t.logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => String(l.msg).startsWith('namespace truncation failed'));
    tc.diagnostic(`with dc2 down: ${refused.status} ${refused.body.toString()}; logged: ${JSON.stringify(failed)}`);
    assert.equal(refused.status, 503);
    assert.equal(refused.json().type, 'urn:firkin:problem:storage-unavailable');
    assert.match(String(refused.json().detail), /not truncated.*every node is up/);
    assert.equal(refused.headers['retry-after'], '1');
    assert.deepEqual(await statuses(sessions), keys.map(() => 200), 'every session is still there');
    assert.deepEqual(await statuses(tokens), keys.map(() => 200));
    assert.equal(failed?.result, 'unavailable');
    assert.equal(failed?.admin, 'token:oncall');

    // dc2 back: the truncation goes through as soon as dc1 sees it up (until then, 503 again: nothing removed).
    await startNode(DC2);
    await startCluster(240_000, TRUNCATE_CLUSTER);
    const deadline = Date.now() + 120_000;
    let reply: Reply;
    for (;;) {
      reply = await truncate();
      if (reply.status !== 503) break;
      assert.ok(Date.now() < deadline, 'the truncation never went through once dc2 was back');
      assert.deepEqual(await statuses(sessions), keys.map(() => 200), 'a refused truncation removes nothing');
      await sleep(1000);
    }
    assert.equal(reply.status, 204);
    assert.deepEqual(await statuses(sessions), keys.map(() => 404), 'every session is gone');
    assert.deepEqual(await statuses(tokens), keys.map(() => 200), 'the other namespace keeps its values');

    // On dc2's own replica too.
    const dc2 = clientOf(DC2);
    try {
      const local = { prepare: true, consistency: cassandra.types.consistencies.localOne };
      assert.equal((await dc2.execute('SELECT key FROM sessions_t', [], local)).rowLength, 0, 'dc2 truncated');
      assert.equal((await dc2.execute('SELECT key FROM tokens_t', [], local)).rowLength, keys.length, 'the other table untouched on dc2');
    } finally {
      await dc2.shutdown();
    }

    const m = await scrape(t.url, AS_ADMIN);
    assert.ok(m.value('firkin_namespace_truncations_total', { namespace: 'sessions', result: 'unavailable' }) >= 1);
    assert.equal(m.value('firkin_namespace_truncations_total', { namespace: 'sessions', result: 'truncated' }), 1);
  });
});
