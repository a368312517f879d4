/**
 * Property-based fuzzing (fast-check) of a real `firkin serve` process: thousands
 * of generated requests (methods, paths, keys, headers, bodies, framing) over raw
 * sockets. Every answer must be a success or a problem document, never a 5xx,
 * the process must not crash, and its memory must stay bounded.
 *
 * Framing (RFC 9112) has a property of its own: a generated request (HTTP/1.0 or
 * 1.1, origin- or absolute-form target, zero to two Host fields, a body framed by
 * Content-Length, chunked, both, or two lengths, an Upgrade or not) followed on the
 * same connection by `GET /healthz` is answered, and then either the follower is
 * answered too or the first answer says `Connection: close` and the connection
 * closes: never silence on an open connection. Ambiguous framing is always 400 and a close.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { RawConnection, rawRequest, request } from '../helpers/http.js';
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

const version = fc.constantFrom('HTTP/1.1', 'HTTP/1.0');
const form = fc.constantFrom('origin', 'absolute', 'absolute-upper', 'absolute-no-path');
const hosts = fc.constantFrom<number | 'same'>(0, 1, 2, 'same');
const bodyFraming = fc.constantFrom('none', 'length', 'chunked', 'both', 'two-lengths', 'same-lengths', 'gzip-chunked');
const upgrade = fc.constantFrom('none', 'websocket', 'h2c', 'upgrade-only', 'connection-only');
const keepAlive = fc.boolean();

interface Framed {
  readonly bytes: string;
  /** RFC 9112 makes it ambiguous: 400 and a close expected. */
  readonly ambiguous: boolean;
}

function framed(m: string, k: string, v: string, f: string, h: number | 'same', b: string, u: string, ka: boolean): Framed {
  const target =
    f === 'origin' ? `/sessions/v1/${k}` : f === 'absolute' ? `http://fuzz.example/sessions/v1/${k}` : f === 'absolute-upper' ? `HTTP://Fuzz.Example:8081/sessions/v1/${k}` : 'http://fuzz.example';
  let head = `${m} ${target} ${v}\r\n`;
  if (h === 'same') head += 'Host: fuzz\r\nHost: fuzz\r\n';
  else for (let i = 0; i < h; i++) head += `Host: fuzz${i}\r\n`;
  if (ka && v === 'HTTP/1.0') head += 'Connection: keep-alive\r\n';
  if (u === 'websocket') head += 'Connection: Upgrade\r\nUpgrade: websocket\r\n';
  else if (u === 'h2c') head += 'Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n';
  else if (u === 'upgrade-only') head += 'Upgrade: websocket\r\n';
  else if (u === 'connection-only') head += 'Connection: upgrade\r\n';
  const chunked = '5\r\nvalue\r\n0\r\n\r\n';
  let payload = '';
  if (b === 'length') [head, payload] = [`${head}Content-Length: 5\r\n`, 'value'];
  else if (b === 'chunked') [head, payload] = [`${head}Transfer-Encoding: chunked\r\n`, chunked];
  else if (b === 'gzip-chunked') [head, payload] = [`${head}Transfer-Encoding: gzip, chunked\r\n`, chunked];
  else if (b === 'both') [head, payload] = [`${head}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n`, chunked];
  else if (b === 'two-lengths') [head, payload] = [`${head}Content-Length: 5\r\nContent-Length: 4\r\n`, 'value'];
  else if (b === 'same-lengths') [head, payload] = [`${head}Content-Length: 5\r\nContent-Length: 5\r\n`, 'value'];
  const te = b === 'chunked' || b === 'gzip-chunked' || b === 'both';
  const ambiguous = (v === 'HTTP/1.0' && te) || h === 2 || h === 'same' || b === 'both' || b === 'two-lengths' || b === 'gzip-chunked';
  return { bytes: `${head}\r\n${payload}`, ambiguous };
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

  const FRAMING_RUNS = Math.max(100, Math.floor(RUNS / 4));
  it(`answers ${FRAMING_RUNS} generated framings with a request pipelined behind: both answered, or a close; ambiguous ones 400`, async () => {
    const f = await spawnFirkin(tempDir(), { embedded: { path: 'data' }, max_value_bytes: 256 });
    const outcomes = new Map<string, number>();
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('GET', 'PUT', 'DELETE', 'PATCH'), version, form, hosts, bodyFraming, upgrade, keepAlive, async (m, v, fo, h, b, u, ka) => {
        const key = `framing-fuzz-${run++}:0001`;
        const request = framed(m, key, v, fo, h, b, u, ka);
        const c = await RawConnection.open(f.url);
        const answers = await c.send(`${request.bytes}GET /healthz HTTP/1.1\r\nHost: fuzz\r\n\r\n`, 2, 3000);
        if (answers.length < 2) await c.waitClosed(1000);
        c.close();
        const [first, second] = answers;
        const what = `${JSON.stringify(request.bytes)} → ${answers.map((a) => `${a.status} ${a.headers.connection ?? ''}`).join(', ') || 'nothing'}${c.closed ? ', closed' : ', open'}`;
        const outcome = `${first?.status ?? 0}${second === undefined ? (c.closed ? '+close' : '+silence') : '+next'}`;
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
        assert.ok(first !== undefined && first.status >= 200 && first.status < 500, `no answer or a 5xx: ${what}`);
        assert.ok(
          (second !== undefined && second.status === 200) || (second === undefined && first.headers.connection === 'close' && c.closed),
          `the pipelined request was neither answered nor the connection closed after a Connection: close answer: ${what}`,
        );
        if (request.ambiguous) assert.ok(first.status === 400 && second === undefined && c.closed, `ambiguous framing not refused with 400 and a close: ${what}`);
      }),
      // A failure is reported as generated: shrinking would wait out many silent connections.
      { numRuns: FRAMING_RUNS, endOnFailure: true },
    );
    const summary = [...outcomes].sort().map(([o, n]) => `${o}×${n}`).join(' ');
    console.log(`# fuzz framing: ${FRAMING_RUNS} requests, outcomes ${summary}`);
    assert.equal(f.child.exitCode, null, 'the process is still running');
    f.child.kill('SIGTERM');
    assert.equal(await f.exited, 0);
  });
});
