/**
 * The HTTP contract, black-box over real HTTP on an ephemeral port, one test per
 * line of the contract (README "API").
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { PROBLEMS, problemBody } from '../../src/api/problem.js';
import { rawRequest, rawStatus, request, type Reply } from '../helpers/http.js';
import { engineLabel, HTTP_ENGINES, onEngine } from '../helpers/cassandra.js';
import { startTestService, type TestService } from '../helpers/service.js';

const PROBLEM_FIELDS = ['detail', 'instance', 'title', 'type'];

function assertProblem(reply: Reply, status: number, type?: string): Record<string, unknown> {
  assert.equal(reply.status, status, reply.body.toString());
  assert.equal(reply.headers['content-type'], 'application/problem+json');
  assert.equal(reply.headers['x-content-type-options'], 'nosniff');
  const doc = reply.json();
  assert.deepEqual(Object.keys(doc).sort(), PROBLEM_FIELDS);
  if (type) assert.equal(doc.type, type);
  return doc;
}

const KASK = {
  badRequest: 'https://www.mediawiki.org/wiki/Kask/errors/bad_request',
  notFound: 'https://www.mediawiki.org/wiki/Kask/errors/not_found',
};

for (const engine of HTTP_ENGINES) {
  describe(`HTTP contract (${engineLabel(engine)})`, () => {
    let t: TestService;
    let base: string;
    const fresh = (): string => `enwiki:MWSession:${randomUUID().replaceAll('-', '')}`;
    const url = (key: string): string => base + encodeURIComponent(key);

    before(async () => {
      t = await startTestService(await onEngine(engine, 'contract_values', { default_ttl: 3600, max_value_bytes: 4096, max_key_bytes: 64 }, true));
      base = t.base;
    });

    describe('GET and HEAD', () => {
      it('returns the exact stored bytes with type, ETag and remaining TTL', async () => {
        const key = fresh();
        const value = Buffer.from([0, 1, 2, 0x80, 0xff, 0xfe, 0, 0x0d, 0x0a]);
        const put = await request(url(key), { method: 'POST', body: value });
        assert.equal(put.status, 201);
        const got = await request(url(key));
        assert.equal(got.status, 200);
        assert.ok(got.body.equals(value));
        assert.equal(got.headers['content-type'], 'application/octet-stream');
        assert.equal(got.headers['content-length'], String(value.length));
        assert.match(got.headers.etag ?? '', /^"[A-Za-z0-9_-]{22}"$/);
        assert.equal(got.headers.etag, put.headers.etag);
        const ttl = Number(got.headers['x-ttl']);
        assert.ok(ttl > 3590 && ttl <= 3600, `x-ttl ${ttl}`);
      });

      it('answers HEAD like GET without a body', async () => {
        const key = fresh();
        await request(url(key), { method: 'PUT', body: 'twelve bytes' });
        const head = await request(url(key), { method: 'HEAD' });
        assert.equal(head.status, 200);
        assert.equal(head.body.length, 0);
        assert.equal(head.headers['content-length'], '12');
        assert.ok(head.headers.etag);
        assert.ok(head.headers['x-ttl']);
        const missing = await request(url(fresh()), { method: 'HEAD' });
        assert.equal(missing.status, 404);
        assert.equal(missing.body.length, 0);
      });

      it('answers 404 with a Kask problem for a missing key', async () => {
        const reply = await request(url(fresh()));
        assertProblem(reply, 404, KASK.notFound);
      });

      it('answers 404 once the value has expired', async () => {
        const key = fresh();
        assert.equal((await request(url(key), { method: 'PUT', body: 'x', headers: { 'cache-control': 'max-age=1' } })).status, 201);
        assert.equal((await request(url(key))).status, 200);
        await sleep(2100);
        assertProblem(await request(url(key)), 404);
      });

      it('answers 304 to If-None-Match with the current ETag, and 412 to a stale If-Match', async () => {
        const key = fresh();
        const put = await request(url(key), { method: 'PUT', body: 'cached' });
        const etag = put.headers.etag!;
        const notModified = await request(url(key), { headers: { 'if-none-match': etag } });
        assert.equal(notModified.status, 304);
        assert.equal(notModified.headers.etag, etag);
        const weak = await request(url(key), { headers: { 'if-none-match': `W/${etag}` } });
        assert.equal(weak.status, 304, 'If-None-Match compares weakly');
        const modified = await request(url(key), { headers: { 'if-none-match': '"other"' } });
        assert.equal(modified.status, 200);
        assertProblem(await request(url(key), { headers: { 'if-match': '"other"' } }), 412);
        assert.equal((await request(url(key), { headers: { 'if-match': etag } })).status, 200);
      });
    });

    describe('POST and PUT', () => {
      for (const method of ['POST', 'PUT']) {
        it(`${method} stores a value and answers 201 with its ETag`, async () => {
          const key = fresh();
          const reply = await request(url(key), { method, body: `via ${method}` });
          assert.equal(reply.status, 201);
          assert.equal(reply.body.length, 0);
          assert.match(reply.headers.etag ?? '', /^".+"$/);
          assert.equal((await request(url(key))).body.toString(), `via ${method}`);
        });
      }

      it('stores for the namespace default TTL when the client names none', async () => {
        const key = fresh();
        await request(url(key), { method: 'POST', body: 'x' });
        const ttl = Number((await request(url(key))).headers['x-ttl']);
        assert.ok(ttl > 3590 && ttl <= 3600, `x-ttl ${ttl}`);
      });

      it('lets Cache-Control max-age shorten the TTL', async () => {
        const key = fresh();
        await request(url(key), { method: 'POST', body: 'x', headers: { 'cache-control': 'private, max-age=120' } });
        const ttl = Number((await request(url(key))).headers['x-ttl']);
        assert.ok(ttl > 110 && ttl <= 120, `x-ttl ${ttl}`);
      });

      it('clamps a max-age longer than the namespace default to the default', async () => {
        const key = fresh();
        await request(url(key), { method: 'PUT', body: 'x', headers: { 'cache-control': 'max-age=99999999999' } });
        const ttl = Number((await request(url(key))).headers['x-ttl']);
        assert.ok(ttl > 3590 && ttl <= 3600, `x-ttl ${ttl}`);
      });

      for (const bad of ['max-age=abc', 'max-age=-5', 'max-age=', 'max-age', 'max-age=1.5', 'max-age=0', 'max-age=5, max-age=6']) {
        it(`refuses Cache-Control: ${bad} with 400`, async () => {
          const key = fresh();
          const reply = await request(url(key), { method: 'PUT', body: 'x', headers: { 'cache-control': bad } });
          assertProblem(reply, 400, KASK.badRequest);
          assert.equal((await request(url(key))).status, 404, 'nothing was stored');
        });
      }

      it('refuses an empty body with 400', async () => {
        const key = fresh();
        assertProblem(await request(url(key), { method: 'POST', body: '' }), 400, KASK.badRequest);
        assertProblem(await request(url(key), { method: 'PUT' }), 400);
        assert.equal((await request(url(key))).status, 404);
      });

      it('accepts a value of exactly max_value_bytes', async () => {
        const key = fresh();
        assert.equal((await request(url(key), { method: 'PUT', body: Buffer.alloc(4096, 7) })).status, 201);
      });

      it('refuses a declared body over max_value_bytes with 413 and closes the connection', async () => {
        const key = fresh();
        const reply = await request(url(key), { method: 'PUT', body: Buffer.alloc(4097) });
        assertProblem(reply, 413);
        assert.equal(reply.headers.connection, 'close');
        assert.equal((await request(url(key))).status, 404);
      });
    });

    describe('atomic add and compare-and-set', () => {
      it('If-None-Match: * adds only when absent', async () => {
        const key = fresh();
        const first = await request(url(key), { method: 'PUT', body: 'first', headers: { 'if-none-match': '*' } });
        assert.equal(first.status, 201);
        const second = await request(url(key), { method: 'PUT', body: 'second', headers: { 'if-none-match': '*' } });
        assertProblem(second, 412);
        assert.equal((await request(url(key))).body.toString(), 'first');
      });

      it('If-Match with the current ETag replaces; with a stale one answers 412', async () => {
        const key = fresh();
        const v1 = await request(url(key), { method: 'PUT', body: 'one' });
        const v2 = await request(url(key), { method: 'PUT', body: 'two', headers: { 'if-match': v1.headers.etag! } });
        assert.equal(v2.status, 201);
        assert.notEqual(v2.headers.etag, v1.headers.etag);
        assertProblem(await request(url(key), { method: 'PUT', body: 'three', headers: { 'if-match': v1.headers.etag! } }), 412);
        assert.equal((await request(url(key))).body.toString(), 'two');
      });

      it('If-Match on a missing key answers 412', async () => {
        const key = fresh();
        assertProblem(await request(url(key), { method: 'PUT', body: 'x', headers: { 'if-match': '"abc"' } }), 412);
        assertProblem(await request(url(key), { method: 'PUT', body: 'x', headers: { 'if-match': '*' } }), 412);
        assert.equal((await request(url(key))).status, 404);
      });

      it('If-Match with a weak ETag never matches', async () => {
        const key = fresh();
        const v1 = await request(url(key), { method: 'PUT', body: 'one' });
        assertProblem(await request(url(key), { method: 'PUT', body: 'x', headers: { 'if-match': `W/${v1.headers.etag}` } }), 412);
      });

      it('lets exactly one of many parallel adds of one key win', async () => {
        const key = fresh();
        const replies = await Promise.all(
          Array.from({ length: 25 }, (_, i) =>
            request(url(key), { method: 'POST', body: `writer ${i}`, headers: { 'if-none-match': '*' } }),
          ),
        );
        const statuses = replies.map((r) => r.status).sort();
        assert.equal(statuses.filter((s) => s === 201).length, 1, String(statuses));
        assert.equal(statuses.filter((s) => s === 412).length, 24);
        const winner = replies.find((r) => r.status === 201)!;
        assert.equal((await request(url(key))).headers.etag, winner.headers.etag);
      });

      it('lets exactly one of many parallel compare-and-sets on one ETag win', async () => {
        const key = fresh();
        const base = await request(url(key), { method: 'PUT', body: 'base' });
        const replies = await Promise.all(
          Array.from({ length: 25 }, (_, i) =>
            request(url(key), { method: 'PUT', body: `writer ${i}`, headers: { 'if-match': base.headers.etag! } }),
          ),
        );
        assert.equal(replies.filter((r) => r.status === 201).length, 1);
        assert.equal(replies.filter((r) => r.status === 412).length, 24);
      });

      for (const [name, headers] of [
        ['both If-Match and If-None-Match', { 'if-match': '"a"', 'if-none-match': '*' }],
        ['If-None-Match with an entity-tag on a write', { 'if-none-match': '"a"' }],
        ['an unquoted If-Match', { 'if-match': 'abc' }],
      ] as const) {
        it(`refuses ${name} with 400`, async () => {
          assertProblem(await request(url(fresh()), { method: 'PUT', body: 'x', headers }), 400);
        });
      }
    });

    describe('DELETE', () => {
      it('answers 204 and removes the value', async () => {
        const key = fresh();
        await request(url(key), { method: 'PUT', body: 'x' });
        const reply = await request(url(key), { method: 'DELETE' });
        assert.equal(reply.status, 204);
        assert.equal((await request(url(key))).status, 404);
      });

      it('answers 204 for a key that never existed', async () => {
        assert.equal((await request(url(fresh()), { method: 'DELETE' })).status, 204);
      });
    });

    describe('PATCH (touch)', () => {
      const ttlOf = async (key: string): Promise<number> => Number((await request(url(key))).headers['x-ttl']);

      it('answers 204 with the unchanged ETag and the TTL applied, the value untouched', async () => {
        const key = fresh();
        const put = await request(url(key), { method: 'PUT', body: 'session', headers: { 'cache-control': 'max-age=60' } });
        const reply = await request(url(key), { method: 'PATCH' });
        assert.equal(reply.status, 204);
        assert.equal(reply.body.length, 0);
        assert.equal(reply.headers.etag, put.headers.etag);
        assert.equal(reply.headers['x-ttl'], '3600', "the namespace's default_ttl");
        const got = await request(url(key));
        assert.equal(got.body.toString(), 'session');
        assert.equal(got.headers.etag, put.headers.etag);
        const ttl = Number(got.headers['x-ttl']);
        assert.ok(ttl > 3590 && ttl <= 3600, `x-ttl ${ttl}`);
      });

      it('takes the new TTL from Cache-Control max-age, and accepts Content-Length: 0', async () => {
        const key = fresh();
        await request(url(key), { method: 'PUT', body: 'x' });
        const reply = await request(url(key), { method: 'PATCH', headers: { 'cache-control': 'max-age=120', 'content-length': '0' } });
        assert.equal(reply.status, 204);
        assert.equal(reply.headers['x-ttl'], '120');
        const ttl = await ttlOf(key);
        assert.ok(ttl > 110 && ttl <= 120, `x-ttl ${ttl}`);
      });

      it('clamps a max-age longer than the namespace default to the default', async () => {
        const key = fresh();
        await request(url(key), { method: 'PUT', body: 'x', headers: { 'cache-control': 'max-age=10' } });
        const reply = await request(url(key), { method: 'PATCH', headers: { 'cache-control': 'max-age=99999999999' } });
        assert.equal(reply.status, 204);
        assert.equal(reply.headers['x-ttl'], '3600');
        assert.ok((await ttlOf(key)) > 3590);
      });

      it('keeps a value alive past the TTL it was written with', async () => {
        const key = fresh();
        await request(url(key), { method: 'PUT', body: 'sliding', headers: { 'cache-control': 'max-age=1' } });
        assert.equal((await request(url(key), { method: 'PATCH', headers: { 'cache-control': 'max-age=60' } })).status, 204);
        await sleep(2100);
        assert.equal((await request(url(key))).body.toString(), 'sliding');
      });

      it('answers 404 for a missing key and for an expired value, and stores nothing', async () => {
        const missing = fresh();
        assertProblem(await request(url(missing), { method: 'PATCH' }), 404, KASK.notFound);
        assert.equal((await request(url(missing))).status, 404);
        const expired = fresh();
        await request(url(expired), { method: 'PUT', body: 'x', headers: { 'cache-control': 'max-age=1' } });
        await sleep(2100);
        assertProblem(await request(url(expired), { method: 'PATCH' }), 404);
        assert.equal((await request(url(expired))).status, 404);
      });

      it('answers 404 after a DELETE: a deleted value stays deleted', async () => {
        const key = fresh();
        await request(url(key), { method: 'PUT', body: 'x' });
        await request(url(key), { method: 'DELETE' });
        assertProblem(await request(url(key), { method: 'PATCH' }), 404);
        assert.equal((await request(url(key))).status, 404);
      });

      for (const [name, options] of [
        ['a body', { body: 'value' }],
        ['a chunked body', { headers: { 'transfer-encoding': 'chunked' }, body: 'value' }],
        ['If-Match', { headers: { 'if-match': '*' } }],
        ['If-None-Match', { headers: { 'if-none-match': '*' } }],
        ['a malformed max-age', { headers: { 'cache-control': 'max-age=abc' } }],
        ['max-age=0', { headers: { 'cache-control': 'max-age=0' } }],
      ] as const) {
        it(`refuses ${name} with 400, the TTL unchanged`, async () => {
          const key = fresh();
          await request(url(key), { method: 'PUT', body: 'x', headers: { 'cache-control': 'max-age=60' } });
          assertProblem(await request(url(key), { method: 'PATCH', ...options }), 400, KASK.badRequest);
          const got = await request(url(key));
          assert.equal(got.body.toString(), 'x');
          assert.ok(Number(got.headers['x-ttl']) <= 60);
        });
      }

      it('never brings back an old value over parallel writes', async () => {
        const key = fresh();
        await request(url(key), { method: 'PUT', body: 'old' });
        const replies = await Promise.all([
          ...Array.from({ length: 10 }, () => request(url(key), { method: 'PATCH' })),
          request(url(key), { method: 'PUT', body: 'new', headers: { 'cache-control': 'max-age=60' } }),
        ]);
        assert.ok(replies.every((r) => r.status === 204 || r.status === 201), replies.map((r) => r.status).join());
        assert.equal((await request(url(key))).body.toString(), 'new');
      });
    });

    describe('keys and paths', () => {
      it('percent-decodes the key as UTF-8: %2F is part of the key, not a separator', async () => {
        const key = `a/b c:ü€/${randomUUID()}`;
        assert.equal((await request(base + encodeURIComponent(key), { method: 'PUT', body: 'slashy' })).status, 201);
        assert.equal((await request(base + encodeURIComponent(key))).body.toString(), 'slashy');
        // the same characters unencoded in the path are another route entirely
        assert.equal((await request(`${base}a/b`)).status, 404);
      });

      it('treats differently encoded spellings of one key as the same key', async () => {
        const id = randomUUID();
        await request(`${base}plain${id}`, { method: 'PUT', body: 'same' });
        assert.equal((await request(`${base}%70lain${id}`)).body.toString(), 'same');
      });

      it("answers 404 for extra segments, an empty key (Kask's not_found) and a path under no base (no-namespace)", async () => {
        assertProblem(await request(`${base}key/extra`), 404, KASK.notFound);
        assertProblem(await request(`${base}key/`), 404, KASK.notFound);
        assertProblem(await request(base), 404, KASK.notFound);
        for (const path of ['/nowhere/key', '/sessions/v2/key', '/', new URL(base).pathname.slice(0, -1)]) {
          const doc = assertProblem(await request(t.url + path), 404, 'urn:firkin:problem:no-namespace');
          assert.equal(doc.detail, 'No namespace is served at this path', path);
        }
      });

      it('answers 400 to any query string', async () => {
        assertProblem(await request(`${base}key?x=1`), 400, KASK.badRequest);
        // an empty query still counts (sent raw: URL clients drop a bare '?')
        const raw = await rawRequest(t.url, `GET ${new URL(base).pathname}key? HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
        assert.equal(rawStatus(raw), 400, raw);
        assertProblem(await request(`${base}key?x=1`, { method: 'PUT', body: 'x' }), 400);
      });

      it('accepts a key of exactly max_key_bytes and refuses a longer one, naming the limit', async () => {
        assert.equal((await request(base + 'k'.repeat(64), { method: 'PUT', body: 'x' })).status, 201);
        const limit = 'The key exceeds max_key_bytes, 64 bytes of UTF-8 (at most 192 characters percent-encoded)';
        const over = assertProblem(await request(base + 'k'.repeat(65), { method: 'PUT', body: 'x' }), 414, 'urn:firkin:problem:key-too-long');
        assert.equal(over.detail, `${limit}: it is 65 bytes long`);
        // bytes, not characters: 21 three-byte characters and 3 ASCII ones are 24 characters, 66 bytes (192 characters encoded)
        assert.equal(assertProblem(await request(base + encodeURIComponent(`${'€'.repeat(21)}abc`)), 414).detail, `${limit}: it is 66 bytes long`);
        assertProblem(await request(base + encodeURIComponent('€'.repeat(22))), 414);
        const encoded = assertProblem(await request(base + '%41'.repeat(5000)), 414);
        assert.equal(encoded.detail, `${limit}: its part of the request target is longer than 192 characters`);
      });

      for (const [name, raw] of [
        ['malformed percent-encoding', 'bad%zzkey'],
        ['a truncated escape', 'bad%2'],
        ['invalid UTF-8', 'bad%C3%28'],
        ['an overlong UTF-8 encoding', '%C0%AF'],
        ['a NUL byte', 'nul%00key'],
        ['another control character', 'tab%09key'],
      ] as const) {
        it(`answers 400 to a key with ${name}`, async () => {
          assertProblem(await request(base + raw), 400, KASK.badRequest);
          assertProblem(await request(base + raw, { method: 'PUT', body: 'x' }), 400);
        });
      }

      for (const method of ['OPTIONS', 'TRACE', 'PROPFIND']) {
        it(`answers 405 with Allow to ${method}`, async () => {
          const reply = await request(url(fresh()), { method });
          assertProblem(reply, 405);
          assert.equal(reply.headers.allow, 'GET, HEAD, PUT, POST, DELETE, PATCH');
        });
      }
    });

    describe('every response', () => {
      it('carries Cache-Control: no-store and a generated X-Request-ID', async () => {
        const key = fresh();
        const replies = [
          await request(url(key), { method: 'PUT', body: 'x' }),
          await request(url(key)),
          await request(url(key), { method: 'DELETE' }),
          await request(url(key)),
          await request(`${t.url}/nowhere`),
          await request(url(key), { method: 'PATCH' }),
        ];
        const ids = new Set<string>();
        for (const reply of replies) {
          assert.equal(reply.headers['cache-control'], 'no-store');
          assert.match(reply.headers['x-request-id'] ?? '', /^[0-9a-f-]{36}$/);
          ids.add(String(reply.headers['x-request-id']));
        }
        assert.equal(ids.size, replies.length, 'each request gets its own ID');
      });

      it('echoes a sane X-Request-ID and names it in problem instances', async () => {
        const reply = await request(url(fresh()), { headers: { 'x-request-id': 'req-123.abc' } });
        assert.equal(reply.headers['x-request-id'], 'req-123.abc');
        assert.equal(reply.json().instance, 'urn:firkin:request:req-123.abc');
      });

      for (const [name, id] of [
        ['too long', 'x'.repeat(500)],
        ['not safe in a URI', 'a"b<script>'],
      ] as const) {
        it(`replaces an X-Request-ID that is ${name}`, async () => {
          const reply = await request(url(fresh()), { headers: { 'x-request-id': id } });
          assert.match(reply.headers['x-request-id'] ?? '', /^[0-9a-f-]{36}$/);
        });
      }

      it("uses Kask's four problem types, titles and details exactly (Kask v1.0.0 and later, http.go)", () => {
        const kask = (p: { status: number; type: string; title: string; detail: string }) => [p.status, p.type, p.title, p.detail];
        assert.deepEqual(kask(PROBLEMS.badRequest), [400, 'https://www.mediawiki.org/wiki/Kask/errors/bad_request', 'Bad request', 'The request was incorrect or malformed']);
        assert.deepEqual(kask(PROBLEMS.notAuthorized), [401, 'https://www.mediawiki.org/wiki/Kask/errors/not_authorized', 'Not authorized', 'Unable to authorize request']);
        assert.deepEqual(kask(PROBLEMS.notFound), [404, 'https://www.mediawiki.org/wiki/Kask/errors/not_found', 'Not found', 'The value you requested was not found']);
        assert.deepEqual(kask(PROBLEMS.internal), [500, 'https://www.mediawiki.org/wiki/Kask/errors/server_error', 'Internal server error', 'The server encountered an error with your request']);
        assert.equal(PROBLEMS.noRoute.status, 404, "an unknown path keeps Kask's status");
        assert.deepEqual(Object.keys(JSON.parse(problemBody(PROBLEMS.internal, 'r1')) as object), ['type', 'title', 'detail', 'instance'], "Kask's fields, in Kask's order");
      });

      it('never puts the key in a problem document', async () => {
        const key = `secret-session-${randomUUID()}`;
        const replies = [
          await request(base + key),
          await request(`${base + key}?q`),
          await request(base + key, { method: 'PATCH' }),
          await request(base + key, { method: 'PUT', body: '' }),
          await request(base + key, { method: 'PUT', body: 'x', headers: { 'cache-control': 'max-age=x' } }),
          await request(`${base + key}/more`),
          await request(`${base + key}%00`),
        ];
        for (const reply of replies) {
          assert.ok(reply.status >= 400);
          assert.ok(!reply.body.toString().includes(key), reply.body.toString());
          assert.ok(!reply.body.toString().includes('secret-session'), reply.body.toString());
        }
      });
    });
  });
}
