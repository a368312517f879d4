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
import { CASSANDRA_UNDER_TEST, clusterConfig, createTables } from '../helpers/cassandra.js';
import { request } from '../helpers/http.js';
import { startTestService, type TestService } from '../helpers/service.js';
import { until } from '../helpers/wait.js';

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

describe(`serial consistency across two data centres (${CASSANDRA_UNDER_TEST})`, () => {
  let dc1: TestService;
  let dc2: TestService;
  before(async () => {
    await createTables(await clusterConfig('dc1', { keyspace: KEYSPACE }), 'lwt_serial', 'lwt_local');
    dc1 = await firkinIn('dc1');
    dc2 = await firkinIn('dc2');
  });

  interface Round {
    readonly statuses: number[];
    /** Problem types of the 503s. */
    readonly unknown: string[];
    /** The stored value once both data centres agree. */
    readonly stored: string;
  }

  /**
   * For each of `rounds` fresh keys, one add from dc1 and one from dc2 at once: their
   * statuses, and the value both data centres read once they agree.
   */
  async function racingAdds(ns: string, rounds: number): Promise<Round[]> {
    const results: Round[] = [];
    for (let i = 0; i < rounds; i++) {
      const key = randomUUID();
      const replies = await Promise.all(
        [dc1, dc2].map((t, j) => request(`${t.url}/${ns}/v1/${key}`, { method: 'PUT', body: `from dc${j + 1}`, headers: { 'if-none-match': '*' } })),
      );
      let stored = '';
      await until(async () => {
        const [a, b] = await Promise.all([dc1, dc2].map((t) => request(`${t.url}/${ns}/v1/${key}`)));
        stored = a!.status === 200 && b!.status === 200 && a!.body.equals(b!.body) ? a!.body.toString() : '';
        return stored !== '';
      }, 'both data centres to read the same value', 15_000, 100);
      results.push({
        statuses: replies.map((r) => r.status),
        unknown: replies.filter((r) => r.status === 503).map((r) => String(r.json().type)),
        stored,
      });
    }
    return results;
  }

  it('with serial: of two adds of one key, one from each data centre, exactly one wins', async (t) => {
    const rounds = await racingAdds('serial', 20);
    for (const { statuses, unknown, stored } of rounds) {
      assert.ok(!(statuses[0] === 201 && statuses[1] === 201), `both adds won: ${statuses}`);
      // A loaded machine can time a Paxos round out after it was accepted: 503 outcome-unknown.
      for (const type of unknown) assert.equal(type, 'urn:firkin:problem:outcome-unknown', `statuses ${statuses}`);
      if (unknown.length === 2) {
        assert.ok(stored === 'from dc1' || stored === 'from dc2', `both outcomes unknown: one of them is stored (${stored})`);
        continue;
      }
      // Otherwise exactly one lost (412), and the other (201, or 503 outcome-unknown) is what is stored.
      assert.equal(statuses.filter((s) => s === 412).length, 1, `exactly one add lost: ${statuses}`);
      const winner = statuses.findIndex((s) => s !== 412);
      assert.equal(stored, `from dc${winner + 1}`, `statuses ${statuses}: the winner's value is stored in both data centres`);
    }
    const ambiguous = rounds.filter((r) => r.unknown.length > 0).length;
    // A round where both outcomes are unknown proves nothing; most rounds must be decided.
    const decided = rounds.filter((r) => r.unknown.length < 2).length;
    assert.ok(decided >= 10, `only ${decided} of 20 rounds had a known loser`);
    t.diagnostic(`20 rounds: one add won and one lost each time (dc1 won ${rounds.filter((r) => r.statuses[0] !== 412).length}; the winner answered 503 outcome-unknown in ${ambiguous})`);
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
    for (const { statuses } of rounds) assert.ok(statuses.every((s) => s === 201 || s === 412 || s === 503), `statuses ${statuses}`);
    const both = rounds.filter((r) => r.statuses[0] === 201 && r.statuses[1] === 201).length;
    t.diagnostic(`local_serial: both adds answered 201 in ${both} of 20 rounds (the later ballot's value is what stays)`);
  });
});
