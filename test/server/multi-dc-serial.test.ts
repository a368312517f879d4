/**
 * Serial consistency across two data centres (the shared two-DC cluster: dc1 on
 * 127.0.0.2, dc2 on 127.0.0.3, one replica each), a Firkin in each. With
 * `serial_consistency: serial` Paxos runs among a quorum of all replicas, so two adds
 * of one key, one from each data centre, cannot both win. With local_serial each data
 * centre runs its own Paxos and both may win: only reported, as it depends on timing.
 * (What happens when dc2 is down: test/faults/serial-consistency.fault.ts, on a private
 * cluster, as this one is shared.)
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { before, describe, it } from 'node:test';
import { clusterConfig, createTables } from '../helpers/cassandra.js';
import { request } from '../helpers/http.js';
import { startTestService, type TestService } from '../helpers/service.js';

const KEYSPACE = 'firkin_lwt_mdc';
const NAMESPACES = [
  { name: 'serial', base_uri: '/serial/v1/', table: 'lwt_serial', conditional_writes: true, serial_consistency: 'serial' },
  { name: 'local', base_uri: '/local/v1/', table: 'lwt_local', conditional_writes: true },
];

async function firkinIn(dc: 'dc1' | 'dc2'): Promise<TestService> {
  const c = await clusterConfig(dc, { keyspace: KEYSPACE });
  return startTestService({
    storage: 'cassandra',
    cassandra: { hosts: c.hosts, keyspace: KEYSPACE, local_dc: dc, query_timeout_ms: 8000, replication: c.replication },
    namespaces: NAMESPACES,
  });
}

describe('serial consistency across two data centres', () => {
  let dc1: TestService;
  let dc2: TestService;
  before(async () => {
    await createTables(await clusterConfig('dc1', { keyspace: KEYSPACE }), 'lwt_serial', 'lwt_local');
    dc1 = await firkinIn('dc1');
    dc2 = await firkinIn('dc2');
  });

  /** For each of `rounds` fresh keys, one add from dc1 and one from dc2 at once: the statuses. */
  async function racingAdds(ns: string, rounds: number): Promise<number[][]> {
    const results: number[][] = [];
    for (let i = 0; i < rounds; i++) {
      const key = randomUUID();
      const replies = await Promise.all(
        [dc1, dc2].map((t, j) => request(`${t.url}/${ns}/v1/${key}`, { method: 'PUT', body: `from dc${j + 1}`, headers: { 'if-none-match': '*' } })),
      );
      results.push(replies.map((r) => r.status));
    }
    return results;
  }

  it('with serial: of two adds of one key, one from each data centre, exactly one wins', async (t) => {
    const rounds = await racingAdds('serial', 20);
    for (const statuses of rounds) assert.deepEqual([...statuses].sort(), [201, 412], `statuses ${statuses}`);
    t.diagnostic(`20 rounds: each one 201 and one 412 (dc1 won ${rounds.filter((s) => s[0] === 201).length})`);
  });

  it('with serial: the winner is what both data centres read, and a compare-and-set from the other one sees it', async () => {
    const key = randomUUID();
    const add = await request(`${dc1.url}/serial/v1/${key}`, { method: 'PUT', body: 'v1', headers: { 'if-none-match': '*' } });
    assert.equal(add.status, 201);
    // dc2's compare-and-set reads the current bytes at SERIAL: it sees dc1's add at once.
    const cas = await request(`${dc2.url}/serial/v1/${key}`, { method: 'PUT', body: 'v2', headers: { 'if-match': add.headers.etag! } });
    assert.equal(cas.status, 201);
    const stale = await request(`${dc1.url}/serial/v1/${key}`, { method: 'PUT', body: 'v3', headers: { 'if-match': add.headers.etag! } });
    assert.equal(stale.status, 412, 'dc1 cannot swap out a value dc2 already replaced');
  });

  it('with local_serial: each data centre decides alone (reported, not asserted)', async (t) => {
    const rounds = await racingAdds('local', 20);
    for (const statuses of rounds) assert.ok(statuses.every((s) => s === 201 || s === 412), `statuses ${statuses}`);
    const both = rounds.filter((s) => s[0] === 201 && s[1] === 201).length;
    t.diagnostic(`local_serial: both adds won in ${both} of 20 rounds`);
  });
});
