/**
 * Faults 1 and 2: a local-DC node killed (SIGKILL) under steady mixed load, then
 * restarted, on a cluster with RF 3 in dc1 and 1 in dc2. LOCAL_QUORUM needs two
 * of three local replicas, so no request may fail; every acknowledged write must
 * be readable afterwards; and once the node is back, Firkin's driver connects to
 * it again (Wikimedia's failure mode was a driver that did not).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createTables } from '../helpers/cassandra.js';
import { request } from '../helpers/http.js';
import { spawnFirkin } from '../helpers/process.js';
import { atFileEnd, tempDir } from '../helpers/tmp.js';
import { startCluster, stopCluster } from '../../tools/cassandra/cluster.js';
import { FAULT_CLUSTER, killNode, startNode, wipeNode } from '../../tools/cassandra/node.js';

const VICTIM = FAULT_CLUSTER[1]!;

/** Established TCP connections to host:9042 on this machine (from /proc/net/tcp). */
function connectionsTo(host: string): number {
  const hex = host.split('.').reverse().map((o) => Number(o).toString(16).padStart(2, '0')).join('').toUpperCase();
  const target = `${hex}:2352`; // port 9042
  return readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .slice(1)
    .filter((line) => {
      const f = line.trim().split(/\s+/);
      return f[2] === target && f[3] === '01';
    }).length;
}

describe('fault: node loss and rejoin (RF 3 in the local DC)', () => {
  it('fails no request while a local node is down, loses nothing, and uses the node again once back', async (t) => {
    const started = Date.now();
    // Stopped whatever happens, even if it never fully starts; wiped so the next run starts fresh.
    atFileEnd(async () => {
      await stopCluster(FAULT_CLUSTER);
      for (const n of FAULT_CLUSTER) wipeNode(n);
    });
    for (const n of FAULT_CLUSTER) wipeNode(n);
    await startCluster(240_000, FAULT_CLUSTER);
    t.diagnostic(`cluster of ${FAULT_CLUSTER.length} nodes up in ${((Date.now() - started) / 1000).toFixed(0)} s`);
    const cassandra = {
      hosts: FAULT_CLUSTER.filter((n) => n.dc === 'dc1').map((n) => n.listen),
      port: 9042,
      keyspace: 'firkin_faults',
      localDc: 'dc1',
      replication: { dc1: 3, dc2: 1 },
      queryTimeoutMs: 5000,
      connectTimeoutMs: 5000,
      authentication: undefined,
      tls: undefined,
    };
    await createTables(cassandra, 'sessions');
    const f = await spawnFirkin(tempDir(), {
      storage: 'cassandra',
      cassandra: { hosts: cassandra.hosts, keyspace: cassandra.keyspace, local_dc: 'dc1', query_timeout_ms: 5000 },
      namespaces: [{ name: 'sessions', base_uri: '/sessions/v1/', table: 'sessions' }],
    });

    const acked = new Map<string, string>();
    const failures: string[] = [];
    let requests = 0;
    let running = true;
    let seq = 0;
    const loop = async (): Promise<void> => {
      while (running) {
        const n = seq++;
        const key = `node-loss-key-${String(n % 500).padStart(4, '0')}`;
        const url = `${f.url}/sessions/v1/${key}`;
        requests++;
        if (n % 4 === 0) {
          const value = `v${n}`;
          const r = await request(url, { method: 'POST', body: value });
          if (r.status === 201) acked.set(key, value);
          else failures.push(`POST ${r.status}`);
        } else {
          const r = await request(url);
          if (r.status !== 200 && r.status !== 404) failures.push(`GET ${r.status}`);
        }
        await sleep(5);
      }
    };
    // One loop, one request at a time: a key's last acknowledged write is the value it must hold.
    const load = loop();
    let before = 0;
    let reconnected = 0;
    try {
      await sleep(3000);
      before = connectionsTo(VICTIM.listen);
      await killNode(VICTIM);
      t.diagnostic(`injected: SIGKILL of ${VICTIM.name} (${VICTIM.listen}) after ${requests} requests; driver connections to it before: ${before}`);
      await sleep(8000);
      const duringDown = requests;
      await startNode(VICTIM);
      t.diagnostic(`injected: ${VICTIM.name} restarted after ${duringDown} requests`);
      for (let i = 0; i < 60 && reconnected === 0; i++) {
        await sleep(1000);
        reconnected = connectionsTo(VICTIM.listen);
      }
      await sleep(3000);
    } finally {
      running = false; // no load left running into the cleanup
      await load;
    }

    let lost = 0;
    for (const [key, value] of acked) {
      const r = await request(`${f.url}/sessions/v1/${key}`);
      if (r.status !== 200 || r.body.toString() !== value) lost++;
    }
    t.diagnostic(
      `observed: ${requests} requests, ${failures.length} failed (${[...new Set(failures)].join(', ') || 'none'}); ` +
        `${acked.size} keys acknowledged, ${lost} lost; driver connections to ${VICTIM.listen} after rejoin: ${reconnected}`,
    );
    assert.ok(before > 0, 'the driver used the node before');
    assert.deepEqual(failures, [], 'no request failed while one local replica was down');
    assert.equal(lost, 0);
    assert.ok(reconnected > 0, 'the driver connected to the rejoined node again');
    f.child.kill('SIGTERM');
    assert.equal(await f.exited, 0);
  });
});
