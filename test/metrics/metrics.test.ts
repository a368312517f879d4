/** /metrics moves as requests happen; /admin/top-keys ranks rewritten keys by hash. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Metrics } from '../../src/metrics/metrics.js';
import { request, rawRequest } from '../helpers/http.js';
import { scrape } from '../helpers/prometheus.js';
import { startTestService } from '../helpers/service.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.js';

describe('metrics', () => {
  it("uses Kask's names and buckets, with a namespace label, and counts what happened", async () => {
    const t = await startTestService({ namespaces: [{ name: 'sessions', base_uri: '/sessions/v1/' }], max_value_bytes: 64 });
    const ns = { namespace: 'sessions' };
    await scrape(t.url);
    const before = await scrape(t.url);
    assert.equal(before.value('http_requests_total'), 0, 'scrapes are not counted');
    assert.equal(before.value('firkin_build_info', { engine: 'embedded', node_version: process.version }), 1);
    // Kask's build gauge, with exactly the label names Kask v1.0.10 exports, for dashboards built for Kask.
    const kaskBuild = before.samples.filter((s) => s.name === 'kask_build_info');
    assert.equal(kaskBuild.length, 1);
    assert.equal(kaskBuild[0]!.value, 1);
    assert.deepEqual(Object.keys(kaskBuild[0]!.labels).sort(), ['build_date', 'build_host', 'go_version', 'version']);
    assert.equal(kaskBuild[0]!.labels.version, before.samples.find((s) => s.name === 'firkin_build_info')!.labels.version);
    assert.equal(kaskBuild[0]!.labels.go_version, `node${process.versions.node}`);
    assert.match(before.text, /^# TYPE kask_build_info gauge$/m);

    const key = t.base + randomBytes(8).toString('hex');
    assert.equal((await request(key)).status, 404); // miss
    assert.equal((await request(key, { method: 'POST', body: 'one' })).status, 201);
    assert.equal((await request(key, { method: 'POST', body: 'one' })).status, 201); // same value again
    assert.equal((await request(key, { method: 'PUT', body: 'two' })).status, 201);
    assert.equal((await request(key)).status, 200); // hit
    assert.equal((await request(key, { method: 'POST', body: 'x', headers: { 'if-none-match': '*' } })).status, 412);
    assert.equal((await request(key, { method: 'POST', body: 'x'.repeat(65) })).status, 413);
    assert.equal((await request(key, { method: 'DELETE' })).status, 204);
    assert.equal((await request(`${t.url}/nowhere`)).status, 404);
    await rawRequest(t.url, 'GET / HTTP/1.1\r\nBroken\r\n\r\n');

    const m = await scrape(t.url);
    assert.equal(m.value('http_requests_total', { code: '201', method: 'POST', ...ns }), 2);
    assert.equal(m.value('http_requests_total', { code: '201', method: 'PUT', ...ns }), 1);
    assert.equal(m.value('http_requests_total', { code: '404', method: 'GET', ...ns }), 1);
    assert.equal(m.value('http_requests_total', { code: '404', method: 'GET', namespace: '' }), 1, 'unrouted requests have an empty namespace');
    assert.equal(m.value('http_requests_total', { code: '400', method: 'OTHER' }), 1, 'unparseable requests are counted');
    assert.equal(m.value('http_requests_total'), 10);
    assert.equal(m.value('http_request_duration_seconds_count', { code: '204', method: 'DELETE', ...ns }), 1);
    const buckets = m.samples
      .filter((s) => s.name === 'http_request_duration_seconds_bucket' && s.labels.code === '204')
      .map((s) => s.labels.le);
    assert.deepEqual(buckets, ['0.001', '0.0025', '0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '+Inf'], "Kask's buckets");

    const op = (operation: string, result: string) => m.value('firkin_operations_total', { ...ns, operation, result });
    assert.deepEqual(
      [op('read', 'miss'), op('read', 'hit'), op('write', 'stored'), op('write', 'rejected'), op('write', 'invalid'), op('delete', 'deleted')],
      [1, 1, 3, 1, 1, 1],
    );
    assert.equal(m.value('firkin_operation_duration_seconds_count', { ...ns, operation: 'write' }), 5);

    const storage = (operation: string, result: string) =>
      m.value('firkin_storage_operations_total', { ...ns, engine: 'embedded', operation, result });
    assert.deepEqual(
      [storage('get', 'miss'), storage('get', 'hit'), storage('set', 'applied'), storage('add', 'rejected'), storage('delete', 'ok')],
      [1, 1, 3, 1, 1],
      'the 413 never reached the engine',
    );
    assert.equal(m.value('firkin_storage_operation_duration_seconds_count', { ...ns, operation: 'set' }), 3);

    assert.equal(m.value('firkin_written_bytes_total', ns), 9);
    assert.equal(m.value('firkin_writes_compared_total', ns), 3, 'the embedded engine compares every write');
    assert.equal(m.value('firkin_writes_unchanged_total', ns), 1);

    for (const name of ['process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes', 'firkin_http_requests_in_flight']) {
      assert.ok(m.has(name), `${name} is exported`);
    }
  });

  it('counts touches (PATCH) as operation touch: touched, miss and invalid, on the HTTP and the storage side', async () => {
    const t = await startTestService({ namespaces: [{ name: 'sessions', base_uri: '/sessions/v1/' }] });
    const key = t.base + randomBytes(8).toString('hex');
    assert.equal((await request(key, { method: 'PUT', body: 'v' })).status, 201);
    assert.equal((await request(key, { method: 'PATCH' })).status, 204);
    assert.equal((await request(key, { method: 'PATCH', headers: { 'cache-control': 'max-age=60' } })).status, 204);
    assert.equal((await request(t.base + 'missing', { method: 'PATCH' })).status, 404);
    assert.equal((await request(key, { method: 'PATCH', body: 'a body' })).status, 400);

    const m = await scrape(t.url);
    const ns = { namespace: 'sessions' };
    const op = (result: string) => m.value('firkin_operations_total', { ...ns, operation: 'touch', result });
    assert.deepEqual([op('touched'), op('miss'), op('invalid')], [2, 1, 1]);
    assert.equal(m.value('firkin_operation_duration_seconds_count', { ...ns, operation: 'touch' }), 4);
    assert.equal(m.value('http_requests_total', { ...ns, method: 'PATCH', code: '204' }), 2, 'PATCH is a method label of its own');
    const storage = (result: string) => m.value('firkin_storage_operations_total', { ...ns, engine: 'embedded', operation: 'touch', result });
    assert.deepEqual([storage('applied'), storage('miss')], [2, 1], 'the 400 never reached the engine');
    assert.equal(m.value('firkin_storage_operation_duration_seconds_count', { ...ns, operation: 'touch' }), 3);
    assert.equal(m.value('firkin_written_bytes_total', ns), 1, 'a touch writes no value');
  });

  it('reports the embedded store: file and used bytes, its bound, entries per namespace, expired values reclaimed', async () => {
    const path = tempDir();
    const t = await startTestService({
      embedded: { path, max_size: '64MiB' },
      namespaces: [{ name: 'sessions', base_uri: '/sessions/v1/' }, { name: 'tokens', base_uri: '/tokens/v1/' }],
    });
    const put = async (url: string, maxAge?: number): Promise<void> => {
      const headers = maxAge === undefined ? {} : { 'cache-control': `max-age=${maxAge}` };
      assert.equal((await request(url, { method: 'PUT', body: randomBytes(3000), headers })).status, 201);
    };
    for (let i = 0; i < 3; i++) await put(`${t.url}/sessions/v1/short-${i}`, 1);
    for (let i = 0; i < 2; i++) await put(`${t.url}/sessions/v1/long-${i}`);
    await put(`${t.url}/tokens/v1/long`);

    const m = await scrape(t.url);
    for (const [name, type] of [
      ['firkin_embedded_file_bytes', 'gauge'],
      ['firkin_embedded_used_bytes', 'gauge'],
      ['firkin_embedded_max_size_bytes', 'gauge'],
      ['firkin_embedded_entries', 'gauge'],
      ['firkin_embedded_expired_reclaimed_total', 'counter'],
    ]) {
      assert.match(m.text, new RegExp(`^# TYPE ${name} ${type}$`, 'm'));
    }
    assert.equal(m.value('firkin_embedded_file_bytes'), statSync(join(path, 'firkin.mdb')).size);
    const used = m.value('firkin_embedded_used_bytes');
    assert.ok(used >= 6 * 3000 && used <= m.value('firkin_embedded_file_bytes'), `used ${used} bytes`);
    assert.equal(m.value('firkin_embedded_max_size_bytes'), 64 * 2 ** 20);
    assert.equal(m.value('firkin_embedded_entries', { namespace: 'sessions' }), 5);
    assert.equal(m.value('firkin_embedded_entries', { namespace: 'tokens' }), 1);
    assert.equal(m.value('firkin_embedded_expired_reclaimed_total'), 0);

    // The sweeper (every second) removes the three expired values from disk.
    let after = m;
    await until(async () => ((after = await scrape(t.url)), after.value('firkin_embedded_expired_reclaimed_total', { namespace: 'sessions' }) === 3), 'three values reclaimed', 5000, 200);
    assert.equal(after.value('firkin_embedded_expired_reclaimed_total', { namespace: 'tokens' }), 0);
    assert.equal(after.value('firkin_embedded_entries', { namespace: 'sessions' }), 2);
    assert.equal(after.value('firkin_embedded_entries', { namespace: 'tokens' }), 1);
  });

  it('counts written bytes and unchanged rewrites', async () => {
    const metrics = new Metrics({ engine: 'embedded', processMetrics: false });
    metrics.written('sessions', 100, false);
    metrics.written('sessions', 100, true);
    metrics.written('sessions', 50, undefined);
    const text = await metrics.registry.metrics();
    assert.match(text, /^firkin_written_bytes_total\{namespace="sessions"\} 250$/m);
    assert.match(text, /^firkin_writes_compared_total\{namespace="sessions"\} 2$/m);
    assert.match(text, /^firkin_writes_unchanged_total\{namespace="sessions"\} 1$/m);
  });

  it('keeps one series per namespace, method, status and operation (found by number, not a string per request)', async () => {
    const metrics = new Metrics({ engine: 'embedded', processMetrics: false });
    metrics.request('GET', 200, 'sessions', 'read', 0.001);
    metrics.request('GET', 200, 'sessions', 'read', 0.001);
    metrics.request('HEAD', 200, 'sessions', 'read', 0.001);
    metrics.request('GET', 404, 'sessions', 'read', 0.001);
    metrics.request('GET', 200, 'tokens', 'read', 0.001);
    metrics.request('PATCH', 204, 'sessions', 'touch', 0.001);
    metrics.request('DELETE', 204, 'sessions', 'delete', 0.001);
    // Methods Firkin does not serve, and requests refused before parsing, share OTHER.
    metrics.request('OPTIONS', 405, 'sessions', undefined, 0.001);
    metrics.request('PROPFIND', 405, 'sessions', undefined, 0.001);
    metrics.request(undefined, 400, '', undefined, undefined);
    metrics.request('OPTIONS', 400, '', undefined, undefined);
    const text = await metrics.registry.metrics();
    const count = (labels: string): number => Number(new RegExp(`^http_requests_total\\{${labels}\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
    assert.equal(count('code="200",method="GET",namespace="sessions"'), 2);
    assert.equal(count('code="200",method="HEAD",namespace="sessions"'), 1);
    assert.equal(count('code="404",method="GET",namespace="sessions"'), 1);
    assert.equal(count('code="200",method="GET",namespace="tokens"'), 1);
    assert.equal(count('code="204",method="PATCH",namespace="sessions"'), 1);
    assert.equal(count('code="204",method="DELETE",namespace="sessions"'), 1);
    assert.equal(count('code="405",method="OTHER",namespace="sessions"'), 2);
    assert.equal(count('code="400",method="OTHER",namespace=""'), 2);
    assert.match(text, /^firkin_operations_total\{namespace="sessions",operation="touch",result="touched"\} 1$/m);
    assert.match(text, /^firkin_operations_total\{namespace="sessions",operation="delete",result="deleted"\} 1$/m);
    assert.match(text, /^firkin_operations_total\{namespace="sessions",operation="read",result="miss"\} 1$/m);
    assert.match(text, /^firkin_operations_total\{namespace="sessions",operation="read",result="hit"\} 3$/m);
  });

  it('has no embedded store metrics unless the embedded engine reports them (Cassandra)', async () => {
    const metrics = new Metrics({ engine: 'cassandra', processMetrics: false });
    assert.doesNotMatch(await metrics.registry.metrics(), /firkin_embedded_/);
  });

  it('lists the most-written keys as hashes at /admin/top-keys, never the keys', async () => {
    const t = await startTestService({ insight: { top_keys: 2 } });
    const hot = `enwiki:MWSession:${randomBytes(16).toString('hex')}`;
    const warm = `enwiki:MWSession:${randomBytes(16).toString('hex')}`;
    for (let i = 0; i < 6; i++) await request(t.base + encodeURIComponent(hot), { method: 'POST', body: `v${i}` });
    for (let i = 0; i < 3; i++) await request(t.base + encodeURIComponent(warm), { method: 'POST', body: `v${i}` });
    await request(t.base + 'cold', { method: 'POST', body: 'v' });

    const reply = await request(`${t.url}/admin/top-keys`);
    assert.equal(reply.status, 200);
    assert.match(reply.headers['content-type']!, /^application\/json/);
    const text = reply.body.toString('utf8');
    for (const secret of [hot, warm, encodeURIComponent(hot), hot.split(':')[2]!]) assert.ok(!text.includes(secret));
    const report = reply.json() as { windows: { writes: number; top: { namespace: string; key_hash: string; writes: number }[] }[] };
    assert.equal(report.windows[0]!.writes, 10);
    assert.deepEqual(
      report.windows[0]!.top.map((e) => [e.namespace, e.key_hash, e.writes]),
      [
        ['default', t.service.hasher.hash('default', hot), 6],
        ['default', t.service.hasher.hash('default', warm), 3],
      ],
    );
    assert.equal((await request(`${t.url}/admin/top-keys`, { method: 'DELETE' })).status, 405);
  });

  it('hashes a key with its namespace: the same key in two namespaces is two entries at /admin/top-keys', async () => {
    const t = await startTestService({ namespaces: [{ name: 'sessions', base_uri: '/sessions/v1/' }, { name: 'tokens', base_uri: '/tokens/v1/' }] });
    const key = encodeURIComponent(`enwiki:MWSession:${randomBytes(16).toString('hex')}`);
    assert.equal((await request(`${t.url}/sessions/v1/${key}`, { method: 'POST', body: 'a' })).status, 201);
    assert.equal((await request(`${t.url}/tokens/v1/${key}`, { method: 'POST', body: 'b' })).status, 201);
    const report = (await request(`${t.url}/admin/top-keys`)).json() as { windows: { top: { namespace: string; key_hash: string }[] }[] };
    const top = report.windows[0]!.top;
    assert.deepEqual(top.map((e) => e.namespace).sort(), ['sessions', 'tokens']);
    assert.notEqual(top[0]!.key_hash, top[1]!.key_hash, 'two namespaces, two hashes');
  });
});
