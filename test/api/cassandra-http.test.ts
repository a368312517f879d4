/** The HTTP service on the Cassandra engine, on a real Cassandra node. */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { before, describe, it } from 'node:test';
import { requestHeadLimit } from '../../src/transport/listener.js';
import { CASSANDRA_UNDER_TEST, createTables, rawClient, singleNodeConfig, TEST_KEYSPACE } from '../helpers/cassandra.js';
import { request, type Reply } from '../helpers/http.js';
import { scrape } from '../helpers/prometheus.js';
import { PROBLEMS } from '../../src/api/problem.js';
import { startTestService, type TestService } from '../helpers/service.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { until } from '../helpers/wait.js';

const NAMESPACES = [
  { name: 'sessions', base_uri: '/sessions/v1/', default_ttl: 3600, table: 'http_sessions', conditional_writes: true },
  { name: 'central', base_uri: '/central/v1/', default_ttl: 7200, table: 'http_central' },
];

describe(`HTTP on the cassandra engine (${CASSANDRA_UNDER_TEST})`, () => {
  let t: TestService;
  before(async () => {
    const c = await singleNodeConfig();
    await createTables(c, 'http_sessions', 'http_central');
    t = await startTestService({
      storage: 'cassandra',
      cassandra: { hosts: c.hosts, keyspace: TEST_KEYSPACE, local_dc: c.localDc },
      namespaces: NAMESPACES,
    });
  });
  const url = (key: string, ns = 'sessions/v1'): string => `${t.url}/${ns}/${encodeURIComponent(key)}`;

  it('stores, reads and deletes exact bytes with ETag and TTL', async () => {
    const key = `enwiki:MWSession:${randomBytes(16).toString('hex')}`;
    const value = Buffer.concat([Buffer.from([0, 0xff, 0x80]), randomBytes(2000)]);
    const put = await request(url(key), { method: 'PUT', body: value });
    assert.equal(put.status, 201);
    const got = await request(url(key));
    assert.equal(got.status, 200);
    assert.ok(got.body.equals(value));
    assert.equal(got.headers.etag, put.headers.etag);
    const ttl = Number(got.headers['x-ttl']);
    assert.ok(ttl > 3590 && ttl <= 3600, `ttl ${ttl}`);
    assert.equal((await request(url(key), { method: 'DELETE' })).status, 204);
    assert.equal((await request(url(key))).status, 404);
  });

  it('keeps namespaces in their own tables', async () => {
    const key = randomUUID();
    await request(url(key), { method: 'POST', body: 'local' });
    assert.equal((await request(url(key, 'central/v1'))).status, 404);
    await request(url(key, 'central/v1'), { method: 'POST', body: 'central', headers: { 'cache-control': 'max-age=99999' } });
    assert.equal((await request(url(key))).body.toString(), 'local');
    const ttl = Number((await request(url(key, 'central/v1'))).headers['x-ttl']);
    assert.ok(ttl > 7190 && ttl <= 7200, `clamped to the namespace's 7200: ${ttl}`);
  });

  it('lets exactly one of 25 parallel adds win, and one of 25 compare-and-sets', async () => {
    const key = randomUUID();
    const adds = await Promise.all(
      Array.from({ length: 25 }, (_, i) => request(url(key), { method: 'PUT', body: `w${i}`, headers: { 'if-none-match': '*' } })),
    );
    assert.equal(adds.filter((r) => r.status === 201).length, 1, adds.map((r) => r.status).join());
    assert.equal(adds.filter((r) => r.status === 412).length, 24);
    const etag = (await request(url(key))).headers.etag!;
    const cas = await Promise.all(
      Array.from({ length: 25 }, (_, i) => request(url(key), { method: 'PUT', body: `c${i}`, headers: { 'if-match': etag } })),
    );
    assert.equal(cas.filter((r) => r.status === 201).length, 1, cas.map((r) => r.status).join());
    assert.equal(cas.filter((r) => r.status === 412).length, 24);
  });

  it('with conditional_writes: DELETE then add, and write then compare-and-set, are each readable after', async () => {
    const key = randomUUID();
    assert.equal((await request(url(key), { method: 'PUT', body: 'first' })).status, 201);
    assert.equal((await request(url(key), { method: 'DELETE' })).status, 204);
    assert.equal((await request(url(key))).status, 404);
    assert.equal((await request(url(key), { method: 'PUT', body: 'added', headers: { 'if-none-match': '*' } })).status, 201);
    assert.equal((await request(url(key))).body.toString(), 'added');
    const put = await request(url(key), { method: 'PUT', body: 'written' });
    assert.equal(put.status, 201);
    const cas = await request(url(key), { method: 'PUT', body: 'swapped', headers: { 'if-match': put.headers.etag! } });
    assert.equal(cas.status, 201);
    const got = await request(url(key));
    assert.equal(got.body.toString(), 'swapped');
    assert.equal(got.headers.etag, cas.headers.etag);
    assert.equal((await request(url(key), { method: 'PUT', body: 'x', headers: { 'if-match': put.headers.etag! } })).status, 412);
    assert.equal((await request(url(key), { method: 'PUT', body: 'replaced', headers: { 'if-match': '*' } })).status, 201);
    assert.equal((await request(url(key))).body.toString(), 'replaced');
  });

  it('without conditional_writes: refuses If-None-Match and If-Match on writes with 400, storing nothing; reads keep their conditions', async () => {
    const key = randomUUID();
    for (const headers of [{ 'if-none-match': '*' }, { 'if-match': '*' }, { 'if-match': '"abc"' }]) {
      const reply = await request(url(key, 'central/v1'), { method: 'PUT', body: 'x', headers });
      assert.equal(reply.status, 400, JSON.stringify(headers));
      const doc = reply.json();
      assert.equal(doc.type, 'urn:firkin:problem:conditional-writes-disabled');
      assert.match(String(doc.detail), /conditional_writes: true/);
    }
    assert.equal((await request(url(key, 'central/v1'))).status, 404, 'nothing was stored');
    const put = await request(url(key, 'central/v1'), { method: 'PUT', body: 'plain' });
    assert.equal(put.status, 201, 'plain writes are served as Kask serves them');
    const notModified = await request(url(key, 'central/v1'), { headers: { 'if-none-match': put.headers.etag! } });
    assert.equal(notModified.status, 304);
  });

  it('without conditional_writes: PATCH touches as on the other namespaces, clamped, 404 when missing, and a later write wins', async () => {
    const key = randomUUID();
    assert.equal((await request(url(key, 'central/v1'), { method: 'PATCH' })).status, 404);
    const put = await request(url(key, 'central/v1'), { method: 'PUT', body: 'plain', headers: { 'cache-control': 'max-age=60' } });
    const touched = await request(url(key, 'central/v1'), { method: 'PATCH', headers: { 'cache-control': 'max-age=99999' } });
    assert.equal(touched.status, 204);
    assert.equal(touched.headers.etag, put.headers.etag);
    assert.equal(touched.headers['x-ttl'], '7200', "clamped to the namespace's 7200");
    const ttl = Number((await request(url(key, 'central/v1'))).headers['x-ttl']);
    assert.ok(ttl > 7190 && ttl <= 7200, `ttl ${ttl}`);
    assert.equal((await request(url(key, 'central/v1'), { method: 'PUT', body: 'later', headers: { 'cache-control': 'max-age=30' } })).status, 201);
    const later = await request(url(key, 'central/v1'));
    assert.equal(later.body.toString(), 'later');
    assert.ok(Number(later.headers['x-ttl']) <= 30, 'the write is not shadowed by the touch before it');
    assert.equal((await request(url(key, 'central/v1'), { method: 'DELETE' })).status, 204);
    assert.equal((await request(url(key, 'central/v1'), { method: 'PATCH' })).status, 404);
    assert.equal((await request(url(key, 'central/v1'))).status, 404);
  });
});

describe('permanent Cassandra failures', () => {
  it('a namespace whose table does not exist answers 503 schema-missing, logs the cause and the command to run once, and /readyz says why', async () => {
    const c = await singleNodeConfig();
    await createTables(c, 'http_sessions');
    // Tables that do not exist yet (a fresh name each run), created at the end.
    const ghost = `http_ghost_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
    const t = await startTestService({
      storage: 'cassandra',
      cassandra: { hosts: c.hosts, keyspace: TEST_KEYSPACE, local_dc: c.localDc },
      namespaces: [
        { name: 'sessions', base_uri: '/sessions/v1/', table: 'http_sessions' },
        { name: 'ghost', base_uri: '/ghost/v1/', table: ghost },
        { name: 'ghostlwt', base_uri: '/ghostlwt/v1/', table: `${ghost}_lwt`, conditional_writes: true },
      ],
    });
    const replies: Reply[] = [];
    for (let i = 0; i < 10; i++) {
      replies.push(await request(`${t.url}/ghost/v1/k${i}`));
      replies.push(await request(`${t.url}/ghost/v1/k${i}`, { method: 'PUT', body: 'x' }));
      replies.push(await request(`${t.url}/ghost/v1/k${i}`, { method: 'DELETE' }));
      replies.push(await request(`${t.url}/ghostlwt/v1/k${i}`, { method: 'PUT', body: 'x', headers: { 'if-none-match': '*' } }));
    }
    for (const reply of replies) {
      assert.equal(reply.status, 503, reply.body.toString());
      assert.equal(reply.headers['retry-after'], '10', 'the engine checks the schema again every 10 s');
      const doc = reply.json();
      assert.equal(doc.type, PROBLEMS.schemaMissing.type);
      assert.equal(doc.detail, "This namespace's Cassandra table does not exist; an operator must create it (firkin schema --config FILE --apply)");
      assert.doesNotMatch(JSON.stringify(doc), /unconfigured|http_ghost/i, 'names no table: the log does');
    }
    const logged = t.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.level === 'ERROR');
    const schema = logged.filter((l) => String(l.msg).startsWith('Cassandra schema incomplete'));
    assert.equal(schema.length, 1, 'one line for the schema, however many requests and probes');
    assert.equal(
      schema[0]!.msg,
      `Cassandra schema incomplete: table "${TEST_KEYSPACE}"."${ghost}" does not exist (namespace ghost); table "${TEST_KEYSPACE}"."${ghost}_lwt" does not exist (namespace ghostlwt); ` +
        'create what is missing with `firkin schema --config test-config.yaml --apply` (or run the CQL `firkin schema --config test-config.yaml` prints in cqlsh). ' +
        'Until then /readyz answers 503 and requests to these namespaces 503 (checked again every 10 s and at every /readyz; no restart needed)',
    );
    const causes = logged.filter((l) => String(l.msg).startsWith('storage refuses requests'));
    assert.deepEqual(
      causes.map((l) => [l.namespace, l.cause]),
      [
        ['ghost', 'missing-table'],
        ['ghostlwt', 'missing-table'],
      ],
      'one line per namespace and cause, for 40 requests',
    );
    assert.ok(!logged.some((l) => l.msg === 'storage unavailable'), 'nothing is reported as unavailable');

    const ready = await request(`${t.url}/readyz`);
    assert.equal(ready.status, 503);
    assert.match(String(ready.json().detail), /missing-table/);
    assert.doesNotMatch(String(ready.json().detail), /unconfigured/);
    // The healthy namespace keeps working.
    assert.equal((await request(`${t.url}/sessions/v1/k`, { method: 'PUT', body: 'x' })).status, 201);
    // Once the operator creates the tables, the service is ready again without a restart.
    await createTables(c, ghost, `${ghost}_lwt`);
    await until(async () => (await request(`${t.url}/readyz`)).status === 200, '/readyz 200 once the tables exist', 15_000, 200);
    assert.equal((await request(`${t.url}/ghost/v1/k0`, { method: 'PUT', body: 'x' })).status, 201);
    assert.ok(t.logs.some((l) => l.includes('"msg":"Cassandra schema complete')), 'the fix is logged too');
    await t.close();
    const raw = rawClient(c);
    for (const table of [ghost, `${ghost}_lwt`]) await raw.execute(`DROP TABLE IF EXISTS ${TEST_KEYSPACE}.${table}`);
    await raw.shutdown();
  });
});

describe('keys longer than the default max_key_bytes, as Kask stores them', () => {
  /** Exactly `bytes` UTF-8 bytes: ASCII, colons, and one two-byte letter. */
  const longKey = (bytes: number): string => {
    const head = `enwiki:MWSession:${randomUUID()}:é`;
    return head + 'k'.repeat(bytes - Buffer.byteLength(head));
  };
  /** Every byte percent-encoded: the longest request target a key of this length can take. */
  const encodeAll = (key: string): string => [...Buffer.from(key, 'utf8')].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join('');

  it('reads and deletes a 3000-byte key written straight into the table (as Kask would) with max_key_bytes: 4096', async () => {
    const c = await singleNodeConfig();
    await createTables(c, 'kask_long_keys');
    const key = longKey(3000);
    assert.equal(Buffer.byteLength(key), 3000);
    const kask = rawClient(c);
    const table = `${TEST_KEYSPACE}.kask_long_keys`;
    try {
      await kask.execute(`INSERT INTO ${table} (key, value) VALUES (?, ?) USING TTL 3600`, [key, Buffer.from('written by Kask')], { prepare: true });
      const service = (max_key_bytes?: number) =>
        startTestService({
          storage: 'cassandra',
          cassandra: { hosts: c.hosts, keyspace: TEST_KEYSPACE, local_dc: c.localDc },
          namespaces: [{ name: 'sessions', base_uri: '/sessions/v1/', table: 'kask_long_keys' }],
          ...(max_key_bytes === undefined ? {} : { max_key_bytes }),
        });
      const strict = await service();
      assert.equal((await request(strict.base + encodeURIComponent(key))).status, 414, 'the default 1024 refuses it: why check-keys exists');
      await strict.close();

      const t = await service(4096);
      const url = t.base + encodeURIComponent(key);
      const got = await request(url);
      assert.equal(got.status, 200);
      assert.equal(got.body.toString(), 'written by Kask');
      assert.equal((await request(t.base + encodeAll(key), { method: 'HEAD' })).status, 200, 'fully percent-encoded too');
      assert.equal((await request(url, { method: 'DELETE' })).status, 204);
      assert.equal((await request(url)).status, 404);
      const left = await kask.execute(`SELECT key FROM ${table} WHERE key = ?`, [key], { prepare: true });
      assert.equal(left.rowLength, 0, 'deleted in the table itself');
      assert.equal((await request(t.base + encodeURIComponent(longKey(4097)))).status, 414, 'past max_key_bytes: 414');
    } finally {
      await kask.shutdown();
    }
  });

  it('raises the request-head limit with max_key_bytes, so the longest key fits fully percent-encoded', async () => {
    assert.equal(requestHeadLimit({ maxKeyBytes: 1024, namespaces: [{ baseUri: '/sessions/v1/' }] as never }), 16 * 1024, "Node's default stays the floor");
    assert.equal(requestHeadLimit({ maxKeyBytes: 65535, namespaces: [{ baseUri: '/sessions/v1/' }] as never }), 3 * 65535 + 13 + 4096);
    const c = await singleNodeConfig();
    await createTables(c, 'kask_long_keys');
    const t = await startTestService({
      storage: 'cassandra',
      cassandra: { hosts: c.hosts, keyspace: TEST_KEYSPACE, local_dc: c.localDc },
      namespaces: [{ name: 'sessions', base_uri: '/sessions/v1/', table: 'kask_long_keys' }],
      max_key_bytes: 8192,
    });
    const key = longKey(8192);
    const url = t.base + encodeAll(key); // 24 576 characters: over Node's default 16 KiB head
    assert.equal((await request(url, { method: 'POST', body: 'long' })).status, 201);
    assert.equal((await request(url)).body.toString(), 'long');
    assert.equal((await request(t.base + encodeURIComponent(key))).status, 200, 'the same key, encoded minimally');
    assert.equal((await request(url, { method: 'DELETE' })).status, 204);
    assert.equal((await request(t.base + encodeAll(longKey(8193)))).status, 414, 'one byte more: 414, not 431');
  });
});

describe('metrics on the cassandra engine', () => {
  it('time the Cassandra calls apart from the request, and count unchanged rewrites by sampling', async () => {
    const c = await singleNodeConfig();
    await createTables(c, 'metrics_sessions');
    const t = await startTestService({
      storage: 'cassandra',
      cassandra: { hosts: c.hosts, keyspace: TEST_KEYSPACE, local_dc: c.localDc },
      namespaces: [{ name: 'sessions', base_uri: '/sessions/v1/', table: 'metrics_sessions', conditional_writes: true }],
      insight: { compare_sample_rate: 1 },
    });
    const key = `${t.base}${randomUUID()}`;
    for (const body of ['same', 'same', 'other']) assert.equal((await request(key, { method: 'POST', body })).status, 201);
    assert.equal((await request(key)).status, 200);
    assert.equal((await request(key, { method: 'POST', body: 'x', headers: { 'if-none-match': '*' } })).status, 412);
    assert.equal((await request(key, { method: 'PATCH' })).status, 204);
    assert.equal((await request(`${t.base}${randomUUID()}`, { method: 'PATCH' })).status, 404);

    const m = await scrape(t.url);
    const ns = { namespace: 'sessions', engine: 'cassandra' };
    assert.equal(m.value('firkin_storage_operations_total', { ...ns, operation: 'touch', result: 'applied' }), 1);
    assert.equal(m.value('firkin_storage_operations_total', { ...ns, operation: 'touch', result: 'miss' }), 1);
    assert.equal(m.value('firkin_operations_total', { namespace: 'sessions', operation: 'touch', result: 'touched' }), 1);
    assert.equal(m.value('firkin_storage_operations_total', { ...ns, operation: 'set', result: 'applied' }), 3);
    assert.equal(m.value('firkin_storage_operations_total', { ...ns, operation: 'compare_read' }), 3);
    assert.equal(m.value('firkin_storage_operations_total', { ...ns, operation: 'get', result: 'hit' }), 1);
    assert.equal(m.value('firkin_storage_operations_total', { ...ns, operation: 'add', result: 'rejected' }), 1);
    assert.equal(m.value('firkin_writes_compared_total', { namespace: 'sessions' }), 3);
    assert.equal(m.value('firkin_writes_unchanged_total', { namespace: 'sessions' }), 1);
    // The request takes at least as long as its storage call.
    const storageSeconds = m.value('firkin_storage_operation_duration_seconds_sum', { ...ns, operation: 'get' });
    const requestSeconds = m.value('firkin_operation_duration_seconds_sum', { namespace: 'sessions', operation: 'read' });
    assert.ok(storageSeconds > 0 && requestSeconds >= storageSeconds, `${requestSeconds} >= ${storageSeconds}`);
    assert.equal(m.value('firkin_build_info', { engine: 'cassandra' }), 1);
  });
});

describe('cassandra unreachable', () => {
  it('starts anyway, answers 503 without leaking driver text, and recovers by itself', async () => {
    const c = await singleNodeConfig();
    await createTables(c, 'http_sessions');
    // Firkin reaches Cassandra only through this proxy: down means connection refused.
    const proxy = new TcpProxy('127.0.0.1', 19142, c.hosts[0]!, c.port);
    const t = await startTestService({
      storage: 'cassandra',
      cassandra: { hosts: ['127.0.0.1'], port: 19142, keyspace: TEST_KEYSPACE, connect_timeout_ms: 1000, query_timeout_ms: 3000 },
      namespaces: [NAMESPACES[0]],
    });
    try {
      const key = `${t.base}${randomUUID()}`;
      const assertUnavailable = (reply: Reply, what: string): void => {
        assert.equal(reply.status, 503, what);
        assert.equal(reply.headers['retry-after'], '1');
        const doc = reply.json();
        assert.equal(doc.type, 'urn:firkin:problem:storage-unavailable');
        assert.doesNotMatch(JSON.stringify(doc), /NoHostAvailable|ECONNREFUSED|127\.0\.0\.1|cassandra/i);
      };
      assertUnavailable(await request(key), 'GET while down');
      assertUnavailable(await request(key, { method: 'PUT', body: 'x' }), 'PUT while down');
      assertUnavailable(await request(key, { method: 'DELETE' }), 'DELETE while down');
      assert.ok(t.logs.some((l) => l.includes('cannot connect to Cassandra')), 'the outage is logged');
      const notReady = await request(`${t.url}/readyz`);
      assert.equal(notReady.status, 503, '/readyz says not ready while Cassandra is down');
      assert.match(String(notReady.json().detail), /cassandra engine/);
      assert.equal((await request(`${t.url}/healthz`)).status, 200, 'but the process is alive');

      await proxy.up();
      await until(async () => (await request(key)).status === 404, 'serving again within 15 s of Cassandra answering, without a restart', 15_000, 200);
      assert.equal((await request(`${t.url}/readyz`)).status, 200, '/readyz is 200 again');
      assert.equal((await request(key, { method: 'PUT', body: 'back' })).status, 201);

      // Cut it again mid-flight, then bring it back.
      await proxy.down();
      await until(async () => (await request(key)).status === 503, '503 once Cassandra is gone', 15_000, 200);
      await until(async () => (await request(`${t.url}/readyz`)).status === 503, '/readyz turning 503', 15_000, 200);
      await proxy.up();
      await until(async () => (await request(key)).status === 200, 'recovering again', 15_000, 200);
      await until(async () => (await request(`${t.url}/readyz`)).status === 200, '/readyz turning 200', 15_000, 200);
      assert.equal((await request(key)).body.toString(), 'back');
    } finally {
      await t.close();
      await proxy.down();
    }
  });
});
