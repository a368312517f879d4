/**
 * Fault: Cassandra fully down (its only node killed), then back. A real
 * `firkin serve` process keeps answering 503 with Retry-After and /readyz 503,
 * never crashes, and serves again within 10 s of Cassandra answering, without
 * a restart. Every write acknowledged before the outage is still there after.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createTables, singleNodeConfig, TEST_KEYSPACE } from '../helpers/cassandra.js';
import { request } from '../helpers/http.js';
import { spawnFirkin } from '../helpers/process.js';
import { atFileEnd, tempDir } from '../helpers/tmp.js';
import { cqlAnswers, killNode, SINGLE, startNode } from '../../tools/cassandra/node.js';

describe('fault: Cassandra down, then back', () => {
  it('answers 503 throughout, then recovers within 10 s of Cassandra answering', async (t) => {
    const c = await singleNodeConfig();
    await createTables(c, 'fault_down');
    const f = await spawnFirkin(tempDir(), {
      storage: 'cassandra',
      cassandra: { hosts: c.hosts, keyspace: TEST_KEYSPACE, local_dc: c.localDc, query_timeout_ms: 2000, connect_timeout_ms: 2000 },
      namespaces: [{ name: 'sessions', base_uri: '/sessions/v1/', table: 'fault_down' }],
    });
    const acked = new Map<string, string>();
    for (let i = 0; i < 200; i++) {
      const key = `fault-down-key-${String(i).padStart(4, '0')}`;
      if ((await request(`${f.url}/sessions/v1/${key}`, { method: 'POST', body: `v${i}` })).status === 201) acked.set(key, `v${i}`);
    }
    assert.equal(acked.size, 200);

    await killNode(SINGLE);
    atFileEnd(() => startNode(SINGLE)); // never leave the shared node down, even if an assertion fails
    t.diagnostic('injected: SIGKILL of the only Cassandra node');
    const during: number[] = [];
    const readyDuring: number[] = [];
    for (let i = 0; i < 20; i++) {
      const r = await request(`${f.url}/sessions/v1/fault-down-key-0001`);
      during.push(r.status);
      if (r.status === 503) assert.equal(r.headers['retry-after'], '1');
      readyDuring.push((await request(`${f.url}/readyz`)).status);
      await sleep(150);
    }
    assert.deepEqual([...new Set(during)], [503], 'every request while down: 503');
    assert.deepEqual([...new Set(readyDuring)], [503], '/readyz says not ready throughout');
    assert.equal(f.child.exitCode, null, 'the process is alive');

    const restarting = startNode(SINGLE);
    let startFailed = false;
    restarting.catch(() => (startFailed = true)); // awaited below
    let answeredAt = 0;
    while (answeredAt === 0 && !startFailed) {
      if (await cqlAnswers(SINGLE.listen)) answeredAt = Date.now();
      else await sleep(100);
    }
    await restarting; // rethrows a failed start
    let servedAt = 0;
    let failures = 0;
    while (servedAt === 0 && Date.now() - answeredAt < 30_000) {
      const r = await request(`${f.url}/sessions/v1/fault-down-key-0001`);
      if (r.status === 200) servedAt = Date.now();
      else {
        assert.equal(r.status, 503);
        failures++;
        await sleep(100);
      }
    }
    const recovery = servedAt - answeredAt;
    t.diagnostic(`observed: ${during.length} requests while down, all 503; recovered ${recovery} ms after CQL answered (${failures} more 503 meanwhile)`);
    assert.ok(servedAt > 0 && recovery <= 10_000, `back within 10 s: ${recovery} ms`);
    assert.equal((await request(`${f.url}/readyz`)).status, 200);

    let lost = 0;
    for (const [key, value] of acked) {
      const r = await request(`${f.url}/sessions/v1/${key}`);
      if (r.status !== 200 || r.body.toString() !== value) lost++;
    }
    t.diagnostic(`verified: ${acked.size} writes acknowledged before the outage, ${lost} lost`);
    assert.equal(lost, 0);
    f.child.kill('SIGTERM');
    assert.equal(await f.exited, 0);
  });
});
