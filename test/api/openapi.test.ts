/**
 * /openapi documents the real API: every route and status the server produces
 * for a broad corpus of requests is in the document, and its x-amples work.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { request, type RequestOptions } from '../helpers/http.js';
import { tokenHash } from '../helpers/secrets.js';
import { startTestService } from '../helpers/service.js';
import { tempDir } from '../helpers/tmp.js';

type Doc = {
  openapi: string;
  paths: Record<string, Record<string, { responses: Record<string, unknown>; 'x-amples'?: Example[] }>>;
};
type Example = {
  request: { params: { key: string }; headers?: Record<string, string>; body?: string };
  response: { status: number; headers?: Record<string, string>; body?: string };
};

const NAMESPACES = [
  { name: 'sessions', base_uri: '/sessions/v1/', default_ttl: 3600 },
  { name: 'tokens', base_uri: '/tokens/v1/' },
  {
    name: 'guarded',
    base_uri: '/guarded/v1/',
    tokens: [{ name: 'reader', sha256: tokenHash('reader-token'), operations: ['read'] }],
    rate_limit: { requests_per_second: 0.01, burst: 2 },
  },
];
/** Tokens make authentication configured: the service endpoints then need credentials. */
const ADMIN = { name: 'prometheus', sha256: tokenHash('admin-token') };
const AS_ADMIN = { headers: { authorization: 'Bearer admin-token' } };
const AS_READER = { headers: { authorization: 'Bearer reader-token' } };
const TRUNCATE = '/admin/namespaces/{name}/truncate';

describe('OpenAPI document', () => {
  it('lists every route and status the server answers', async () => {
    const t = await startTestService({ namespaces: NAMESPACES, admin: { tokens: [ADMIN] }, max_value_bytes: 16, max_key_bytes: 32 });
    const reply = await request(`${t.url}/openapi`, AS_READER);
    assert.equal(reply.status, 200);
    assert.match(reply.headers['content-type']!, /^application\/json/);
    const doc = reply.json() as unknown as Doc;
    assert.equal(doc.openapi, '3.0.3');
    for (const p of ['/sessions/v1/{key}', '/tokens/v1/{key}', '/healthz', '/readyz', '/metrics', '/openapi', '/admin/top-keys', TRUNCATE]) {
      assert.ok(doc.paths[p], `${p} is documented`);
    }
    const truncation = doc.paths[TRUNCATE] as unknown as { parameters: { schema: { enum: string[] } }[] };
    assert.deepEqual(truncation.parameters[0]!.schema.enum, NAMESPACES.map((n) => n.name), 'the namespaces that can be truncated');

    const s = `${t.url}/sessions/v1/`;
    const k = `${t.url}/tokens/v1/`;
    const corpus: [string, RequestOptions][] = [
      [`${s}a`, { method: 'POST', body: 'v1' }],
      [`${s}a`, { method: 'PUT', body: 'v2', headers: { 'cache-control': 'max-age=60' } }],
      [`${s}a`, {}],
      [`${s}a`, { method: 'HEAD' }],
      [`${s}a`, { headers: { 'if-none-match': '*' } }],
      [`${s}a`, { headers: { 'if-match': '"nope"' } }],
      [`${s}a`, { method: 'POST', body: 'x', headers: { 'if-none-match': '*' } }],
      [`${s}a`, { method: 'PUT', body: 'x', headers: { 'if-match': '"nope"' } }],
      [`${s}a`, { method: 'POST', body: 'far too large for this namespace' }],
      [`${s}a`, { method: 'POST', body: '' }],
      [`${s}a`, { method: 'POST', body: 'x', headers: { 'cache-control': 'max-age=0' } }],
      [`${s}a?q=1`, {}],
      [`${s}a/b`, {}],
      [`${s}${'k'.repeat(40)}`, {}],
      [`${s}%ZZ`, { method: 'DELETE' }],
      [`${s}a`, { method: 'DELETE', headers: { 'if-match': '*' } }],
      [`${s}a`, { headers: { expect: 'something' } }],
      [`${s}a`, { headers: { 'x-big': 'a'.repeat(20_000) } }],
      [`${s}a`, { method: 'PATCH' }],
      [`${s}a`, { method: 'PATCH', headers: { 'cache-control': 'max-age=60' } }],
      [`${s}a`, { method: 'PATCH', body: 'no body here' }],
      [`${s}a`, { method: 'PATCH', headers: { 'if-match': '*' } }],
      [`${s}a`, { method: 'DELETE' }],
      [`${s}a`, { method: 'PATCH' }],
      [`${s}a`, {}],
      [`${k}b`, { method: 'PUT', body: 'v' }],
      [`${k}b`, { method: 'DELETE' }],
      [`${t.url}/guarded/v1/c`, {}],
      [`${t.url}/guarded/v1/c`, { method: 'PUT', body: 'v', headers: { authorization: 'Bearer reader-token' } }],
      [`${t.url}/guarded/v1/c`, { method: 'PATCH', headers: { authorization: 'Bearer reader-token' } }],
      [`${t.url}/guarded/v1/c`, { headers: { authorization: 'Bearer reader-token' } }],
      [`${t.url}/guarded/v1/c`, { headers: { authorization: 'Bearer reader-token' } }],
      [`${t.url}/guarded/v1/c`, { headers: { authorization: 'Bearer reader-token' } }],
      [`${t.url}/healthz`, {}],
      [`${t.url}/healthz`, { method: 'HEAD' }],
      [`${t.url}/readyz`, {}],
      [`${t.url}/metrics`, AS_ADMIN],
      [`${t.url}/openapi`, AS_READER],
      [`${t.url}/admin/top-keys`, AS_ADMIN],
      [`${t.url}/metrics`, {}],
      [`${t.url}/metrics`, AS_READER],
      [`${t.url}/openapi`, {}],
      [`${t.url}/admin/top-keys`, {}],
      [`${t.url}/admin/top-keys`, AS_READER],
      [`${t.url}/admin/namespaces/tokens/truncate`, { method: 'POST' }],
      [`${t.url}/admin/namespaces/tokens/truncate`, { method: 'POST', ...AS_READER }],
      [`${t.url}/admin/namespaces/tokens/truncate`, { method: 'POST', ...AS_ADMIN }],
    ];
    const seen: [string, string, number][] = [];
    const run = async (corpusPart: typeof corpus): Promise<void> => {
      for (const [url, options] of corpusPart) {
        const r = await request(url, options);
        const path = new URL(url).pathname;
        const ns = NAMESPACES.find((n) => path.startsWith(n.base_uri));
        const template = ns ? `${ns.base_uri}{key}` : path.replace(/^\/admin\/namespaces\/[^/]+\/truncate$/, TRUNCATE);
        seen.push([template, (options.method ?? 'GET').toLowerCase(), r.status]);
      }
    };
    await run(corpus);
    // And with the storage engine gone: 503 everywhere it matters.
    await t.service.engine.close();
    await run([
      [`${s}a`, {}],
      [`${s}a`, { method: 'POST', body: 'v' }],
      [`${s}a`, { method: 'DELETE' }],
      [`${s}a`, { method: 'PATCH' }],
      [`${t.url}/readyz`, {}],
      [`${t.url}/admin/namespaces/tokens/truncate`, { method: 'POST', ...AS_ADMIN }],
    ]);

    const statuses = new Set(seen.map(([, , status]) => status));
    for (const expected of [200, 201, 204, 304, 400, 401, 403, 404, 412, 413, 414, 417, 429, 431, 503]) {
      assert.ok(statuses.has(expected), `the corpus produced a ${expected}`);
    }
    for (const [template, method, status] of seen) {
      const op = doc.paths[template]?.[method];
      assert.ok(op, `${method.toUpperCase()} ${template} is documented`);
      assert.ok(String(status) in op.responses, `${method.toUpperCase()} ${template} documents ${status}`);
    }
  });

  it("has x-amples a monitor can run: store then read the test key, in that order", async () => {
    const t = await startTestService({ namespaces: NAMESPACES, admin: { tokens: [ADMIN] } });
    const doc = (await request(`${t.url}/openapi`, AS_READER)).json() as unknown as Doc;
    const path = doc.paths['/sessions/v1/{key}']!;
    assert.deepEqual(Object.keys(path).filter((m) => path[m]?.['x-amples']), ['post', 'get'], 'the write comes first');
    for (const method of ['post', 'get']) {
      assert.ok(path[method]!['x-amples']!.length > 0, `${method} has examples`);
      for (const example of path[method]!['x-amples']!) {
        const url = t.url + '/sessions/v1/' + encodeURIComponent(example.request.params.key);
        const r = await request(url, { method: method.toUpperCase(), headers: example.request.headers, body: example.request.body });
        assert.equal(r.status, example.response.status);
        if (example.response.body !== undefined) assert.equal(r.body.toString('utf8'), example.response.body);
        for (const [name, value] of Object.entries(example.response.headers ?? {})) assert.equal(r.headers[name.toLowerCase()], value);
      }
    }
    const ttl = Number((await request(`${t.url}/sessions/v1/FIRKIN%3AK%3AINTEGRATION_TEST_KEY`)).headers['x-ttl']);
    assert.ok(ttl > 0 && ttl <= 300, `the monitoring key expires soon (${ttl} s)`);
  });

  it("serves Kask's openapi_spec file instead, with its base URI filled in", async () => {
    const file = join(tempDir(), 'openapi.yaml');
    writeFileSync(file, 'openapi: 3.0.2\npaths:\n  "{{- .BaseURI -}}{key}":\n    get: {}\n');
    const t = await startTestService({ openapi_spec: file, base_uri: '/kask/v1/' });
    const reply = await request(`${t.url}/openapi`);
    assert.equal(reply.status, 200);
    assert.equal(reply.headers['content-type'], 'application/x-yaml', "Kask's content type");
    assert.equal(reply.body.toString('utf8'), 'openapi: 3.0.2\npaths:\n  "/kask/v1/{key}":\n    get: {}\n');
    const head = await request(`${t.url}/openapi`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-type'], 'application/x-yaml');
  });

  it('serves an openapi_spec file named .json as Kask does too: application/x-yaml (JSON is YAML)', async () => {
    const file = join(tempDir(), 'openapi.json');
    writeFileSync(file, '{"openapi": "3.0.2", "paths": {"{{ .BaseURI }}{key}": {"get": {}}}}\n');
    const t = await startTestService({ openapi_spec: file });
    const reply = await request(`${t.url}/openapi`);
    assert.equal(reply.status, 200);
    assert.equal(reply.headers['content-type'], 'application/x-yaml');
    assert.equal(reply.body.toString('utf8'), '{"openapi": "3.0.2", "paths": {"/sessions/v1/{key}": {"get": {}}}}\n');
  });
});
