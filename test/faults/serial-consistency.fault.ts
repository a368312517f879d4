/**
 * Serial consistency and ambiguous timeouts when a data centre fails, on a private
 * two-DC cluster (tools/cassandra SERIAL_CLUSTER: dc1 on 127.0.0.21, dc2 on 127.0.0.22,
 * one replica each) that this file starts, freezes, kills and wipes: the shared
 * two-DC cluster is never touched.
 *
 * - dc2 frozen (SIGSTOP, still believed up): a `serial` conditional write sends its
 *   Paxos round to dc2 and times out. It may or may not have applied: 503 with
 *   `urn:firkin:problem:outcome-unknown`, no Retry-After.
 * - dc2 down: `serial` conditional writes answer 503 (no quorum of all replicas),
 *   `local_serial` ones go on in dc1; deletes (EACH_QUORUM) answer 503.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { applySchema } from '../../src/storage/cassandra/schema.js';
import { startCluster } from '../../tools/cassandra/cluster.js';
import { killNode, pauseNode, SERIAL_CLUSTER, stopNode, wipeNode } from '../../tools/cassandra/node.js';
import { configSection, namespaceTables, privateClusterConfig } from '../helpers/cassandra.js';
import { request, type Reply } from '../helpers/http.js';
import { startTestService, type TestService } from '../helpers/service.js';

const [DC1, DC2] = SERIAL_CLUSTER as [(typeof SERIAL_CLUSTER)[number], (typeof SERIAL_CLUSTER)[number]];
const KEYSPACE = 'firkin_serial_fault';
const CASSANDRA = privateClusterConfig(DC1, KEYSPACE);

describe('fault: serial consistency with a data centre frozen or down', () => {
  let t: TestService;
  const add = (ns: string, key: string, body = 'v'): Promise<Reply> =>
    request(`${t.url}/${ns}/v1/${key}`, { method: 'PUT', body, headers: { 'if-none-match': '*' } });

  before(async () => {
    for (const node of SERIAL_CLUSTER) {
      await stopNode(node);
      wipeNode(node);
    }
    await startCluster(240_000, SERIAL_CLUSTER);
    await applySchema(CASSANDRA, namespaceTables('serial_t', 'local_t', 'plain_t'));
    t = await startTestService({
      storage: 'cassandra',
      // The client waits longer than Cassandra's write_request_timeout (5 s), so the server's
      // own write timeout (writeType CAS) is what comes back.
      cassandra: configSection(CASSANDRA),
      namespaces: [
        { name: 'serial', base_uri: '/serial/v1/', table: 'serial_t', conditional_writes: true, serial_consistency: 'serial' },
        { name: 'local', base_uri: '/local/v1/', table: 'local_t', conditional_writes: true },
        { name: 'plain', base_uri: '/plain/v1/', table: 'plain_t' },
      ],
    });
  });
  after(async () => {
    await t?.close();
    for (const node of SERIAL_CLUSTER) {
      await stopNode(node, 2000);
      wipeNode(node);
    }
  });

  it('dc2 frozen: a serial conditional write answers 503 outcome-unknown; re-reading and retrying then settles it', async (tc) => {
    const key = randomUUID();
    assert.equal((await add('serial', randomUUID())).status, 201, 'serial adds work with both data centres up');
    pauseNode(DC2, true);
    let reply: Reply;
    try {
      const started = Date.now();
      reply = await add('serial', key, 'maybe');
      tc.diagnostic(`answered ${reply.status} after ${Date.now() - started} ms`);
      assert.equal((await add('local', randomUUID())).status, 201, 'local_serial needs dc1 only');
    } finally {
      pauseNode(DC2, false);
    }
    assert.equal(reply.status, 503);
    assert.equal(reply.headers['retry-after'], undefined, 'no invitation to retry blindly');
    const doc = reply.json();
    assert.equal(doc.type, 'urn:firkin:problem:outcome-unknown');
    assert.match(String(doc.detail), /may have been applied.*Read the key/s);
    const logged = t.logs.map((l) => JSON.parse(l) as { msg: string; err?: { message?: string } }).find((l) => l.msg === 'conditional write outcome unknown');
    assert.ok(logged, 'logged');
    tc.diagnostic(`driver error: ${logged.err?.message}`);

    // What the client is told to do: read, then decide. Either outcome is consistent.
    const deadline = Date.now() + 60_000;
    let retry: Reply | undefined;
    while (Date.now() < deadline) {
      retry = await add('serial', key, 'maybe');
      if (retry.status !== 503) break;
      await sleep(500);
    }
    assert.ok(retry && (retry.status === 201 || retry.status === 412), `after dc2 thawed: ${retry?.status}`);
    assert.equal((await request(`${t.url}/serial/v1/${key}`)).body.toString(), 'maybe');
  });

  it('dc2 down: serial conditional writes answer 503, local_serial ones succeed, deletes answer 503', async (tc) => {
    await killNode(DC2);
    // Until dc1's gossip marks dc2 down, a serial write still tries it and times out (503
    // outcome-unknown); after, Cassandra refuses it up front (503 storage-unavailable). Never 201.
    const deadline = Date.now() + 90_000;
    const seen: string[] = [];
    for (;;) {
      const reply = await add('serial', randomUUID());
      assert.equal(reply.status, 503, `a serial add with dc2 down: ${reply.status}`);
      seen.push(reply.json().type as string);
      if (reply.json().type === 'urn:firkin:problem:storage-unavailable') {
        assert.equal(reply.headers['retry-after'], '1');
        break;
      }
      assert.ok(Date.now() < deadline, 'Cassandra never reported dc2 unavailable');
      await sleep(500);
    }
    tc.diagnostic(`serial adds after the kill: ${seen.join(', ')}`);

    const key = randomUUID();
    assert.equal((await add('local', key, 'dc1 only')).status, 201, 'local_serial add');
    assert.equal((await add('local', key, 'again')).status, 412, 'local_serial add is still atomic within dc1');
    assert.equal((await request(`${t.url}/local/v1/${key}`)).body.toString(), 'dc1 only');
    assert.equal((await request(`${t.url}/local/v1/${key}`, { method: 'PUT', body: 'plain' })).status, 201, 'a write through Paxos');
    assert.equal((await request(`${t.url}/plain/v1/${key}`, { method: 'PUT', body: 'plain' })).status, 201, 'a plain write');
    for (const ns of ['local', 'plain']) {
      const del = await request(`${t.url}/${ns}/v1/${key}`, { method: 'DELETE' });
      assert.equal(del.status, 503, `${ns}: a delete that cannot reach dc2 is not acknowledged`);
      assert.equal(del.json().type, 'urn:firkin:problem:storage-unavailable');
    }
    assert.equal((await request(`${t.url}/readyz`)).status, 200, 'dc1 still serves: ready');
  });
});
