/**
 * Fault: a hung Cassandra (its JVM stopped with SIGSTOP for 5 s) under steady
 * load. Requests must fail fast at the configured query timeout with 503 and
 * Retry-After, never pile up beyond max_in_flight, and succeed again once
 * Cassandra resumes, without a restart.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createTables, singleNodeConfig, TEST_KEYSPACE } from '../helpers/cassandra.js';
import { request } from '../helpers/http.js';
import { startTestService } from '../helpers/service.js';
import { pauseNode, SINGLE } from '../../tools/cassandra/node.js';

const QUERY_TIMEOUT_MS = 1000;
const MAX_IN_FLIGHT = 100;
const RATE = 100; // requests per second, open loop
const SECONDS = 16;
const STOP_AT_MS = 3000;
const STOP_FOR_MS = 5000;

describe('fault: slow Cassandra', () => {
  it('fails fast at the query timeout, keeps in-flight work bounded, and recovers by itself', async (t) => {
    const c = await singleNodeConfig();
    await createTables(c, 'fault_slow');
    const s = await startTestService({
      storage: 'cassandra',
      cassandra: { hosts: c.hosts, keyspace: TEST_KEYSPACE, local_dc: c.localDc, query_timeout_ms: QUERY_TIMEOUT_MS },
      namespaces: [{ name: 'sessions', base_uri: '/sessions/v1/', table: 'fault_slow' }],
      max_in_flight: MAX_IN_FLIGHT,
    });
    const keys = Array.from({ length: 50 }, (_, i) => `fault-slow-key-${String(i).padStart(4, '0')}`);
    for (const k of keys) assert.equal((await request(`${s.base}${k}`, { method: 'PUT', body: `v-${k}` })).status, 201);

    const results: { at: number; ms: number; status: number; retryAfter: string | undefined }[] = [];
    let maxInFlight = 0;
    const sampler = setInterval(() => (maxInFlight = Math.max(maxInFlight, s.service.inFlight())), 20);
    const start = Date.now();
    const fault = (async () => {
      await sleep(STOP_AT_MS);
      pauseNode(SINGLE, true);
      t.diagnostic(`injected: SIGSTOP of the Cassandra JVM at ${Date.now() - start} ms`);
      await sleep(STOP_FOR_MS);
      pauseNode(SINGLE, false);
      t.diagnostic(`injected: SIGCONT at ${Date.now() - start} ms`);
    })();
    const inflight: Promise<void>[] = [];
    try {
      for (let n = 0; n < RATE * SECONDS; n++) {
        const due = start + (n * 1000) / RATE;
        const wait = due - Date.now();
        if (wait > 0) await sleep(wait);
        inflight.push(
          (async () => {
            const t0 = Date.now();
            const r = await request(`${s.base}${keys[n % keys.length]}`);
            results.push({ at: t0 - start, ms: Date.now() - t0, status: r.status, retryAfter: r.headers['retry-after'] });
          })(),
        );
      }
      await Promise.all(inflight);
    } finally {
      await fault.catch(() => undefined);
      try {
        pauseNode(SINGLE, false); // never leave the node frozen
      } catch {
        // gone altogether: nothing to thaw, and the original error must show
      }
      clearInterval(sampler);
    }

    const failed = results.filter((r) => r.status !== 200);
    const slowest503 = Math.max(0, ...failed.map((r) => r.ms));
    const recoveredAt = Math.max(...failed.map((r) => r.at));
    t.diagnostic(
      `observed: ${results.length} requests, ${results.length - failed.length} × 200, ${failed.length} × 503; ` +
        `slowest 503 ${slowest503} ms; peak in flight ${maxInFlight}; last failure sent at ${recoveredAt} ms`,
    );
    assert.ok(failed.length > 0, 'the stop was noticed');
    for (const r of failed) {
      assert.equal(r.status, 503, 'a hung store means 503, nothing else');
      assert.equal(r.retryAfter, '1');
    }
    assert.ok(slowest503 <= QUERY_TIMEOUT_MS + 1000, `failures come within the query timeout (+1 s): ${slowest503} ms`);
    assert.ok(maxInFlight <= MAX_IN_FLIGHT + 1, `in-flight work stays bounded: ${maxInFlight}`);
    assert.ok(recoveredAt <= STOP_AT_MS + STOP_FOR_MS + 10_000, 'serving again within 10 s of Cassandra resuming');
    const tail = results.filter((r) => r.at > recoveredAt);
    assert.ok(tail.length > RATE, 'and stays so');
    assert.ok(tail.every((r) => r.status === 200));
  });
});
