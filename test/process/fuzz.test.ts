/**
 * Property-based fuzzing (fast-check) of a real `firkin serve` process: thousands
 * of generated requests (methods, paths, keys, headers, bodies, framing) over raw
 * sockets. Every answer must be a success or a problem document, never a 5xx,
 * the process must not crash, and its memory must stay bounded.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { rawRequest, request } from '../helpers/http.js';
import { scrape } from '../helpers/prometheus.js';
import { spawnFirkin } from '../helpers/process.js';
import { tempDir } from '../helpers/tmp.js';

const RUNS = Number(process.env.FIRKIN_FUZZ_RUNS ?? 4000);

const token = fc.stringMatching(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}$/);
const method = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('GET', 'HEAD', 'PUT', 'POST', 'DELETE') },
  { weight: 1, arbitrary: fc.constantFrom('PATCH', 'OPTIONS', 'TRACE', 'PROPFIND', 'CONNECT', 'get') },
  { weight: 1, arbitrary: token },
);
const keyChar = fc.oneof(
  fc.constantFrom('a', 'Z', '0', ':', '-', '_', '.', '~', '!', '$', '*', '(', ')'),
  fc.constantFrom('%2F', '%00', '%09', '%7F', '%C3%A9', '%E2%82%AC', '%F0%9F%98%80', '%C0%AF', '%ED%A0%80', '%zz', '%2', '%', '/', '?', '#', '..'),
  fc.integer({ min: 0, max: 0xff }).map((b) => `%${b.toString(16).padStart(2, '0').toUpperCase()}`),
);
const key = fc.oneof(
  { weight: 5, arbitrary: fc.stringMatching(/^[A-Za-z0-9:_-]{1,40}$/) },
  { weight: 5, arbitrary: fc.array(keyChar, { minLength: 0, maxLength: 40 }).map((a) => a.join('')) },
  { weight: 1, arbitrary: fc.integer({ min: 200, max: 1200 }).map((n) => 'k'.repeat(n)) },
);
const path = fc.oneof(
  { weight: 8, arbitrary: key.map((k) => `/sessions/v1/${k}`) },
  { weight: 1, arbitrary: fc.constantFrom('/healthz', '/readyz', '/openapi', '/admin/top-keys', '/', '/sessions/v1', '/sessions', '*', '/metrics?x=1') },
  { weight: 1, arbitrary: key.map((k) => `/${k}`) },
);
const headerValue = fc.stringMatching(/^[\x20-\x7e]{0,40}$/);
const header = fc.oneof(
  fc.tuple(fc.constantFrom('If-Match', 'If-None-Match'), fc.constantFrom('*', '"abc"', 'W/"abc"', '"a", "b"', 'abc', '', '*, "a"', '"')),
  fc.tuple(fc.constant('Cache-Control'), fc.constantFrom('max-age=60', 'max-age=0', 'max-age=-1', 'max-age=99999999999', 'max-age=1, max-age=2', 'no-cache', 'max-age="5"')),
  fc.tuple(fc.constant('Expect'), fc.constantFrom('100-continue', 'something')),
  fc.tuple(fc.constant('X-Request-ID'), headerValue),
  fc.tuple(fc.constant('Authorization'), fc.constantFrom('Bearer abc', 'Basic eA==', 'Bearer')),
  fc.tuple(fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,20}$/), headerValue),
);
const body = fc.oneof(
  fc.uint8Array({ minLength: 0, maxLength: 64 }),
  fc.integer({ min: 200, max: 600 }).map((n) => new Uint8Array(n).fill(0x78)),
);
const framing = fc.constantFrom('length', 'chunked', 'none', 'short-length');

/** One HTTP/1.1 request as bytes; the declared length never exceeds what is sent (no waiting for a timeout). */
function build(m: string, p: string, headers: [string, string][], b: Uint8Array, f: string): Buffer {
  let head = `${m} ${p} HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\n`;
  for (const [name, value] of headers) head += `${name}: ${value}\r\n`;
  let payload = Buffer.from(b);
  if (f === 'length') head += `Content-Length: ${payload.length}\r\n`;
  else if (f === 'short-length') head += `Content-Length: ${Math.floor(payload.length / 2)}\r\n`;
  else if (f === 'chunked') {
    head += 'Transfer-Encoding: chunked\r\n';
    payload = Buffer.concat([Buffer.from(`${payload.length.toString(16)}\r\n`), payload, Buffer.from('\r\n0\r\n\r\n')]);
  } else payload = Buffer.alloc(0);
  return Buffer.concat([Buffer.from(`${head}\r\n`, 'latin1'), payload]);
}

describe('fuzzing', () => {
  it(`answers ${RUNS} generated requests with a success or a problem document, never a 5xx`, async () => {
    const f = await spawnFirkin(tempDir(), { embedded: { path: 'data' }, max_value_bytes: 256, max_key_bytes: 512 });
    const rssBefore = (await scrape(f.url)).value('process_resident_memory_bytes');
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(method, path, fc.array(header, { maxLength: 5 }), body, framing, async (m, p, h, b, fr) => {
        // Interim 100 Continue answers come before the final one.
        const answer = (await rawRequest(f.url, build(m, p, h, b, fr), { waitMs: 5000, halfClose: true, ignoreErrors: true })).replace(/^(HTTP\/1\.1 1\d\d [^\r]*\r\n(?:[^\r]+\r\n)*\r\n)+/, '');
        const status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(answer)?.[1] ?? 0);
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        assert.ok(status >= 200 && status < 500, `status ${status} for ${m} ${p}: ${answer.slice(0, 200)}`);
        const [head = '', rest = ''] = answer.split('\r\n\r\n', 2);
        if (status >= 400 && m !== 'HEAD') {
          assert.match(head, /\r\ncontent-type: application\/problem\+json/i, `${status} without a problem document`);
          const doc = JSON.parse(rest.slice(0, Number(/\r\ncontent-length: (\d+)/i.exec(head)?.[1] ?? rest.length))) as Record<string, unknown>;
          assert.ok(typeof doc.type === 'string' && typeof doc.title === 'string');
        }
      }),
      { numRuns: RUNS },
    );
    assert.equal(f.child.exitCode, null, 'the process is still running');
    assert.equal((await request(`${f.url}/healthz`)).status, 200);
    const rssAfter = (await scrape(f.url)).value('process_resident_memory_bytes');
    const summary = [...statuses].sort(([a], [b]) => a - b).map(([s, n]) => `${s}×${n}`).join(' ');
    console.log(`# fuzz: ${RUNS} requests, statuses ${summary}; RSS ${(rssBefore / 2 ** 20).toFixed(0)} → ${(rssAfter / 2 ** 20).toFixed(0)} MiB`);
    for (const expected of [200, 201, 204, 400, 404, 405, 412, 413, 414]) assert.ok(statuses.has(expected), `the corpus produced no ${expected}: ${summary}`);
    assert.ok(rssAfter - rssBefore < 100 * 2 ** 20, `memory grew by ${((rssAfter - rssBefore) / 2 ** 20).toFixed(0)} MiB`);
    assert.ok(!f.stdout.some((l) => /uncaught|unhandled/.test(l)), 'no uncaught errors logged');
    f.child.kill('SIGTERM');
    assert.equal(await f.exited, 0);
  });
});
