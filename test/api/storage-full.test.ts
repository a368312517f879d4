/**
 * embedded.max_size over HTTP: at the bound a write gets 507 with a problem
 * document, while reads, touches and deletes go on; after a delete, writes succeed again.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { request } from '../helpers/http.js';
import { scrape } from '../helpers/prometheus.js';
import { startTestService } from '../helpers/service.js';

describe('a full embedded store', () => {
  it('answers 507 to writes, serves reads and deletes, and takes writes again after a delete', async () => {
    const t = await startTestService({ embedded: { max_size: '4MiB' } });
    const value = randomBytes(64 * 1024);
    const key = (i: number): string => `${t.base}enwiki:MWSession:${i}:${randomBytes(8).toString('hex')}`;
    const stored: string[] = [];
    let refused: Awaited<ReturnType<typeof request>> | undefined;
    for (let i = 0; i < 200 && refused === undefined; i++) {
      const url = key(i);
      const r = await request(url, { method: 'PUT', body: value });
      if (r.status === 201) stored.push(url);
      else refused = r;
    }
    assert.ok(refused, 'a write was refused');
    assert.equal(refused.status, 507);
    assert.equal(refused.headers['content-type'], 'application/problem+json');
    const problem = refused.json();
    assert.equal(problem.type, 'urn:firkin:problem:insufficient-storage');
    assert.equal(problem.title, 'Insufficient storage');
    assert.ok(stored.length >= 50, `${stored.length} values stored before the store was full`);

    // Still full for the next write; reads and deletes are served.
    assert.equal((await request(key(1000), { method: 'POST', body: value })).status, 507);
    const first = await request(stored[0]!);
    assert.equal(first.status, 200);
    assert.ok(first.body.equals(value));
    const second = await request(stored[1]!);
    const touched = await request(stored[1]!, { method: 'PATCH' });
    assert.equal(touched.status, 204, 'a touch stores nothing new: never refused as full');
    assert.equal(touched.headers.etag, second.headers.etag, 'the touched value keeps its ETag');
    assert.equal((await request(stored[0]!, { method: 'DELETE' })).status, 204);
    assert.equal((await request(stored[0]!)).status, 404);
    assert.equal((await request(key(1001), { method: 'PUT', body: value })).status, 201, 'the deleted space is writable again');

    const m = await scrape(t.url);
    assert.equal(m.value('firkin_operations_total', { operation: 'write', result: 'full' }), 2);
    assert.equal(m.value('firkin_storage_operations_total', { operation: 'set', result: 'full' }), 2);
    assert.equal(m.value('http_requests_total', { code: '507' }), 2);
    // One warning (at most one a second), no error, no stack.
    const lines = t.logs.map((l) => JSON.parse(l) as Record<string, unknown>);
    const opened = lines.find((l) => l.msg === 'embedded store opened');
    assert.equal(opened?.max_size, 4 * 1024 * 1024, 'the effective max_size is logged at start-up');
    assert.equal(opened?.max_size_from, 'config');
    const full = lines.filter((l) => l.msg === 'storage full: writes refused');
    assert.ok(full.length >= 1 && full.length <= 2, `${full.length} warnings`);
    for (const l of full) {
      assert.equal(l.level, 'WARNING');
      assert.equal(l.err, undefined);
    }
    assert.deepEqual(lines.filter((l) => l.level === 'ERROR'), []);
    // The 507 is documented.
    const doc = (await request(`${t.url}/openapi`)).json() as { paths: Record<string, Record<string, { responses: object }>> };
    for (const method of ['put', 'post']) assert.ok('507' in doc.paths['/sessions/v1/{key}']![method]!.responses, `${method} documents 507`);
  });
});
