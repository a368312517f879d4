/**
 * Bounds a hostile or runaway client meets: per-client rate limits (429),
 * in-flight requests (503 at once, never a queue), connections, and the
 * admin endpoints disabled or moved to a listener of their own.
 */
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { addressBlock, RateLimiter } from '../../src/access/rate-limit.js';
import { openSocket, request } from '../helpers/http.js';
import { tokenHash } from '../helpers/secrets.js';
import { startTestService } from '../helpers/service.js';
import { until } from '../helpers/wait.js';


describe('rate limits', () => {
  it('refill a token bucket per client at the configured rate', () => {
    let now = 0;
    const limiter = new RateLimiter(2, 3, () => now);
    const results = Array.from({ length: 4 }, () => limiter.take('a').allowed);
    assert.deepEqual(results, [true, true, true, false], 'a burst of 3');
    assert.deepEqual(limiter.take('a'), { allowed: false, retryAfterSeconds: 1 });
    assert.equal(limiter.take('b').allowed, true, 'another client has its own bucket');
    now += 500; // half a second: one more token
    assert.equal(limiter.take('a').allowed, true);
    assert.equal(limiter.take('a').allowed, false);
  });

  it('answer 429 with Retry-After per client and namespace, over HTTP', async () => {
    const t = await startTestService({
      namespaces: [
        {
          name: 'sessions',
          base_uri: '/sessions/v1/',
          tokens: [
            { name: 'one', sha256: tokenHash('token-one-abcdef') },
            { name: 'two', sha256: tokenHash('token-two-abcdef') },
          ],
          rate_limit: { requests_per_second: 0.5, burst: 2 },
        },
        { name: 'other', base_uri: '/other/v1/' },
      ],
    });
    const as = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });
    const one = await Promise.all([1, 2, 3].map(() => request(`${t.url}/sessions/v1/k`, as('token-one-abcdef'))));
    assert.deepEqual(one.map((r) => r.status).sort(), [404, 404, 429], 'a burst of 2, then limited');
    const limited = one.find((r) => r.status === 429)!;
    assert.equal(limited.json().type, 'urn:firkin:problem:rate-limited');
    assert.ok(Number(limited.headers['retry-after']) >= 1);
    assert.equal((await request(`${t.url}/sessions/v1/k`, as('token-two-abcdef'))).status, 404, 'another client is not limited');
    assert.equal((await request(`${t.url}/other/v1/k`)).status, 404, 'another namespace is not limited');
  });
});

describe('rate-limit keys and memory', () => {
  it('group IPv6 clients by /64 and keep IPv4 addresses whole', () => {
    assert.equal(addressBlock('127.0.0.1'), '127.0.0.1');
    assert.equal(addressBlock('::ffff:10.0.0.5'), '::ffff:10.0.0.5');
    assert.equal(addressBlock('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2::/64');
    assert.equal(addressBlock('2001:db8:1:2::7'), '2001:db8:1:2::/64');
    assert.equal(addressBlock('2001:db8::1'), '2001:db8:0:0::/64');
    assert.equal(addressBlock('::1'), '0:0:0:0::/64');
  });

  it('keep at most 100000 clients, forgetting the least recently seen', () => {
    const limiter = new RateLimiter(1, 1, () => 0);
    assert.equal(limiter.take('kept').allowed, true);
    for (let i = 0; i < 150_000; i++) {
      limiter.take(`c${i}`);
      if (i % 10_000 === 0) limiter.take('kept');
      assert.ok(limiter.size <= 100_000);
    }
    assert.equal(limiter.take('kept').allowed, false, 'a client seen recently keeps its (empty) bucket');
    assert.equal(limiter.take('c0').allowed, true, 'one not seen for long starts afresh');
  });
});

describe('in-flight and connection bounds', () => {
  /** GETs of a 1 MiB value pipelined on a connection that never reads: once the kernel's buffers are full, one holds its slot. */
  async function stalledReader(url: string, path: string): Promise<Socket> {
    const s = await openSocket(url);
    s.pause();
    s.on('error', () => undefined);
    s.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`.repeat(16));
    return s;
  }

  it('answer 503 with Retry-After beyond max_in_flight, keep /healthz answering, and recover', async () => {
    const t = await startTestService({ max_in_flight: 2, write_timeout_ms: 30_000 });
    const { pathname } = new URL(t.base);
    assert.equal((await request(`${t.base}big-value`, { method: 'PUT', body: Buffer.alloc(1024 * 1024, 0x61) })).status, 201);
    const held = [await stalledReader(t.url, `${pathname}big-value`), await stalledReader(t.url, `${pathname}big-value`)];
    await until(() => t.service.inFlight() === 2, 'both slots held by responses that cannot leave');
    const over = await request(`${t.base}k`);
    assert.equal(over.status, 503);
    assert.equal(over.json().type, 'urn:firkin:problem:overloaded');
    assert.equal(over.headers['retry-after'], '1');
    assert.equal((await request(`${t.url}/healthz`)).status, 200, 'service endpoints are exempt');
    // One count: the two held reads; neither the refused request, nor /healthz, nor the scrape itself.
    assert.equal(t.service.inFlight(), 2);
    assert.match((await request(`${t.url}/metrics`)).body.toString(), /^firkin_http_requests_in_flight 2$/m);
    for (const s of held) s.destroy();
    await until(() => t.service.inFlight() === 0, 'each counted out once its connection is gone');
    assert.equal((await request(`${t.base}k`)).status, 404, 'served again once the load is gone');
  });

  it('hold no slot while a body arrives, and take one once it is in (503 if none is free then)', async () => {
    const t = await startTestService({ max_in_flight: 1, write_timeout_ms: 30_000 });
    const { pathname } = new URL(t.base);
    const writers: Socket[] = [];
    const answers: string[] = [];
    for (let i = 0; i < 3; i++) {
      const s = await openSocket(t.url);
      const n = i;
      answers.push('');
      s.on('data', (c: Buffer) => (answers[n] += c.toString('latin1')));
      s.write(`PUT ${pathname}slow${i} HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nab`);
      writers.push(s);
    }
    await sleep(100);
    assert.equal(t.service.inFlight(), 0, 'three bodies on their way, no slot held');
    assert.equal((await request(`${t.base}k`)).status, 404, 'the only slot is free for others meanwhile');
    // Now the only slot is taken: a body that comes in finds none. (Half the largest value: the
    // bodies on their way hold a few bytes of the max_in_flight × max_value_bytes they may hold.)
    assert.equal((await request(`${t.base}big-value`, { method: 'PUT', body: Buffer.alloc(512 * 1024, 0x61) })).status, 201);
    const stalled = await stalledReader(t.url, `${pathname}big-value`);
    await until(() => t.service.inFlight() === 1, 'the slot held by a response that cannot leave');
    writers[0]!.write('cd');
    await until(() => /^HTTP\/1\.1 503 /.test(answers[0]!), 'the first write answered');
    assert.match(answers[0]!, /urn:firkin:problem:overloaded/);
    stalled.destroy();
    await until(() => t.service.inFlight() === 0, 'the slot free again');
    // One at a time: with max_in_flight 1, two bodies coming in at once would find one slot between them.
    for (const i of [1, 2]) {
      writers[i]!.write('cd');
      await until(() => /^HTTP\/1\.1 201 /.test(answers[i]!), `write ${i} stored`);
    }
    for (const s of writers) s.destroy();
    assert.equal((await request(`${t.base}slow1`)).body.toString(), 'abcd');
    assert.equal((await request(`${t.base}slow0`)).status, 404, 'the refused write stored nothing');
  });

  it('give up a body that stops arriving: 408 and the connection closed, after the grace period', async () => {
    const t = await startTestService();
    const { pathname } = new URL(t.base);
    const s = await openSocket(t.url);
    let answer = '';
    let closed = false;
    s.on('data', (c: Buffer) => (answer += c.toString('latin1')));
    s.on('close', () => (closed = true));
    const started = Date.now();
    s.write(`PUT ${pathname}trickled HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nx`);
    const trickle = setInterval(() => s.write('x'), 200);
    await until(() => closed, 'the connection closed', 8000);
    clearInterval(trickle);
    const took = Date.now() - started;
    assert.match(answer, /^HTTP\/1\.1 408 /);
    assert.match(answer, /urn:firkin:problem:request-timeout/);
    assert.match(answer, /\r\nConnection: close\r\n/i);
    assert.ok(took >= 2900 && took < 5000, `given up after ${took} ms (grace 3 s)`);
    assert.equal((await request(`${t.base}trickled`)).status, 404);
  });

  it('close connections beyond max_connections', async () => {
    const t = await startTestService({ max_connections: 2 });
    const a = await openSocket(t.url);
    const b = await openSocket(t.url);
    await assert.rejects(request(`${t.url}/healthz`), /ECONNRESET|socket hang up/);
    a.destroy();
    b.destroy();
    await sleep(100);
    assert.equal((await request(`${t.url}/healthz`)).status, 200);
  });
});

describe('admin endpoints', () => {
  it('can be disabled', async () => {
    const t = await startTestService({ admin: { enabled: false } });
    assert.equal((await request(`${t.url}/admin/top-keys`)).status, 404);
    assert.equal((await request(`${t.url}/metrics`)).status, 200);
  });

  it('can be moved to a listener of their own, which serves /metrics, /healthz and /readyz too', async () => {
    const t = await startTestService({ admin: { listen_address: '127.0.0.1', listen_port: 0 } });
    const adminUrl = t.service.adminUrl!;
    assert.notEqual(adminUrl, t.url);
    assert.equal((await request(`${t.url}/admin/top-keys`)).status, 404, 'not on the main listener');
    assert.equal((await request(`${adminUrl}/admin/top-keys`)).status, 200);
    assert.equal((await request(`${adminUrl}/sessions/v1/k`)).status, 404, 'no namespace on the admin listener');
    for (const path of ['/metrics', '/healthz', '/readyz']) {
      assert.equal((await request(`${adminUrl}${path}`)).status, 200, `${path} on the admin listener`);
      assert.equal((await request(`${t.url}${path}`)).status, 200, `${path} on the main listener too`);
    }
    assert.match((await request(`${adminUrl}/metrics`)).body.toString('utf8'), /^firkin_build_info\{/m);
    assert.equal((await request(`${adminUrl}/openapi`)).status, 404, 'the API document is for clients: main listener only');
  });

  it('take /metrics off the main listener with metrics_on_main_listener: false', async () => {
    const t = await startTestService({ admin: { listen_address: '127.0.0.1', listen_port: 0, metrics_on_main_listener: false } });
    assert.equal((await request(`${t.url}/metrics`)).status, 404);
    assert.equal((await request(`${t.service.adminUrl!}/metrics`)).status, 200);
    for (const path of ['/healthz', '/readyz', '/openapi']) assert.equal((await request(`${t.url}${path}`)).status, 200, `${path} stays on the main listener`);
  });
});
