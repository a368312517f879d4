/**
 * Retries, against a tiny fake HTTP server that answers 503 (or 429, or drops the
 * connection) a given number of times: idempotent operations retry within
 * timeoutMs, honouring Retry-After but never faster than the backoff; add and cas
 * are sent exactly once; 429 is reported, not retried. And what is refused before
 * any request: a closed client, a key that is not well-formed Unicode.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import { FirkinClient, FirkinError, FirkinRejectedError, FirkinUnavailableError } from '../src/index.js';

/** What the fake server does with the next requests, in order; then it succeeds. */
type Failure = { readonly retryAfter?: string; readonly type?: string; readonly status?: number } | 'drop';
let failures: Failure[] = [];
let requests: Array<{ method: string; url: string }> = [];

const SUCCESS: Record<string, number> = { GET: 200, PUT: 201, DELETE: 204, PATCH: 204 };
const server = http.createServer((req, res) => {
  requests.push({ method: req.method!, url: req.url! });
  req.resume();
  const failure = failures.shift();
  if (failure === 'drop') return void req.socket.destroy();
  if (failure !== undefined) {
    const headers: http.OutgoingHttpHeaders = { 'content-type': 'application/problem+json' };
    if (failure.retryAfter !== undefined) headers['retry-after'] = failure.retryAfter;
    const type = failure.type ?? 'urn:firkin:problem:storage-unavailable';
    return void res.writeHead(failure.status ?? 503, headers).end(JSON.stringify({ type, title: 'Service unavailable', detail: 'try later' }));
  }
  res.writeHead(SUCCESS[req.method!] ?? 500, { etag: '"e1"' }).end(req.method === 'GET' ? 'value' : undefined);
});

let base: string;
before(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/sessions/v1/`;
});
after(() => server.close());
beforeEach(() => {
  failures = [];
  requests = [];
});

const KEY = 'secret session key/ü';

describe('FirkinClient retries', () => {
  const idempotent: Array<[string, (c: FirkinClient) => Promise<unknown>, string]> = [
    ['get', (c) => c.get(KEY), 'GET'],
    ['set', (c) => c.set(KEY, 'v'), 'PUT'],
    ['delete', (c) => c.delete(KEY), 'DELETE'],
    ['touch', (c) => c.touch(KEY), 'PATCH'],
  ];
  for (const [name, call, method] of idempotent) {
    it(`${name} retries on 503 and on a dropped connection, then succeeds`, async () => {
      failures = [{ retryAfter: '0' }, 'drop', {}];
      const client = new FirkinClient({ baseUrl: base, timeoutMs: 5000 });
      await call(client);
      client.close();
      assert.equal(requests.length, 4);
      assert.ok(requests.every((r) => r.method === method && r.url === `/sessions/v1/${encodeURIComponent(KEY)}`));
    });
  }

  it('get waits as long as Retry-After says', async () => {
    failures = [{ retryAfter: '1' }];
    const client = new FirkinClient({ baseUrl: base, timeoutMs: 5000 });
    const started = Date.now();
    assert.equal((await client.get(KEY))?.value.toString(), 'value');
    client.close();
    assert.ok(Date.now() - started >= 1000, 'waited a second');
    assert.equal(requests.length, 2);
  });

  it('gives up at once with retryAfter when Retry-After lies beyond timeoutMs', async () => {
    failures = [{ retryAfter: '30' }];
    const client = new FirkinClient({ baseUrl: base, timeoutMs: 1000 });
    const started = Date.now();
    await assert.rejects(client.set(KEY, 'v'), (err: unknown) => {
      assert.ok(err instanceof FirkinUnavailableError);
      assert.equal(err.status, 503);
      assert.equal(err.retryAfter, 30);
      assert.equal(err.type, 'urn:firkin:problem:storage-unavailable');
      assert.ok(!err.message.includes('secret'), 'the key stays out of the message');
      return true;
    });
    client.close();
    assert.ok(Date.now() - started < 500);
    assert.equal(requests.length, 1);
  });

  it('keeps retrying a 503 without Retry-After until timeoutMs, then reports the last 503', async () => {
    failures = Array.from({ length: 100 }, () => ({}));
    const client = new FirkinClient({ baseUrl: base, timeoutMs: 600 });
    const started = Date.now();
    await assert.rejects(client.get(KEY), (err: unknown) => err instanceof FirkinUnavailableError && err.status === 503 && err.retryAfter === undefined);
    const took = Date.now() - started;
    client.close();
    assert.ok(took >= 500 && took < 1500, `gave up after ${took} ms`);
    assert.ok(requests.length >= 3 && requests.length < 10, `${requests.length} attempts`);
  });

  for (const [name, call] of [
    ['add', (c: FirkinClient) => c.add(KEY, 'v')],
    ['cas', (c: FirkinClient) => c.cas(KEY, 'v', '"e0"')],
  ] as const) {
    it(`${name} is never retried: a 503 and a dropped connection are reported after one request`, async () => {
      const client = new FirkinClient({ baseUrl: base, timeoutMs: 5000 });
      failures = [{ retryAfter: '0' }];
      await assert.rejects(call(client), (err: unknown) => err instanceof FirkinUnavailableError && err.status === 503 && err.retryAfter === 0);
      assert.equal(requests.length, 1);
      failures = ['drop'];
      await assert.rejects(call(client), (err: unknown) => {
        assert.ok(err instanceof FirkinUnavailableError);
        assert.equal(err.status, undefined);
        assert.equal(err.sent, true, 'the request was written before the connection dropped');
        assert.match(err.message, /not retried: the write may or may not have been applied/);
        assert.ok(!err.message.includes('secret'));
        return true;
      });
      assert.equal(requests.length, 2);
      client.close();
    });
  }

  it('waits at least the backoff on Retry-After: 0, not a tight loop', async () => {
    failures = Array.from({ length: 1000 }, () => ({ retryAfter: '0' }));
    const client = new FirkinClient({ baseUrl: base, timeoutMs: 600 });
    await assert.rejects(client.get(KEY), (err: unknown) => err instanceof FirkinUnavailableError && err.status === 503 && err.retryAfter === 0);
    client.close();
    // 50, 100, 200 ms backoffs fit in 600 ms: a handful of attempts, not hundreds.
    assert.ok(requests.length >= 3 && requests.length < 10, `${requests.length} attempts`);
  });

  it('reports 429 at once as FirkinUnavailableError with its Retry-After (only 503 is retried)', async () => {
    failures = [{ status: 429, retryAfter: '7', type: 'urn:firkin:problem:rate-limited' }];
    const client = new FirkinClient({ baseUrl: base, timeoutMs: 5000 });
    await assert.rejects(client.get(KEY), (err: unknown) => {
      assert.ok(err instanceof FirkinUnavailableError && !(err instanceof FirkinRejectedError), String(err));
      assert.equal(err.status, 429);
      assert.equal(err.retryAfter, 7);
      assert.equal(err.type, 'urn:firkin:problem:rate-limited');
      return true;
    });
    client.close();
    assert.equal(requests.length, 1);
  });
});

describe('FirkinClient refusals before sending', () => {
  it('throws FirkinError("client closed") after close(), opening no connection, also for a retry waiting when it closes', async () => {
    const client = new FirkinClient({ baseUrl: base, timeoutMs: 5000 });
    await client.set(KEY, 'v');
    client.close();
    for (const call of [() => client.get(KEY), () => client.set(KEY, 'v'), () => client.add(KEY, 'v'), () => client.delete(KEY)]) {
      await assert.rejects(call(), (err: unknown) => err instanceof FirkinError && /client closed/.test(err.message));
    }
    assert.equal(requests.length, 1);

    failures = [{}];
    const other = new FirkinClient({ baseUrl: base, timeoutMs: 5000 });
    const pending = other.get(KEY);
    await new Promise((resolve) => setTimeout(resolve, 20)); // the 503 has come; the retry waits its 50 ms backoff
    other.close();
    await assert.rejects(pending, /client closed/);
    assert.equal(requests.length, 2);
  });

  it('throws TypeError, sending nothing, for a key with a lone surrogate', async () => {
    const client = new FirkinClient({ baseUrl: base, timeoutMs: 5000 });
    for (const key of ['secret\uD800', '\uDC00secret', 'a\uDE00\uD83D']) {
      await assert.rejects(client.get(key), (err: unknown) => {
        assert.ok(err instanceof TypeError && !(err instanceof URIError), String(err));
        assert.match(err.message, /well-formed Unicode/);
        assert.ok(!err.message.includes('secret'));
        return true;
      });
    }
    await client.set('paired 😀', 'v'); // a surrogate pair is fine
    client.close();
    assert.equal(requests.length, 1);
  });
});
