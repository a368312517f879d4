/** Requests that are not well-formed HTTP, sent on raw sockets: each gets a clear 4xx. */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { rawRequest, rawStatus, request } from '../helpers/http.js';
import { startTestService, type TestService } from '../helpers/service.js';

describe('malformed requests', () => {
  let t: TestService;
  let path: string;
  before(async () => {
    t = await startTestService({ max_value_bytes: 1024 });
    path = new URL(t.base).pathname;
  });

  const bodyOf = (answer: string): Record<string, unknown> => JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4));

  it('answers CONNECT with 405 and a problem document', async () => {
    const answer = await rawRequest(t.url, 'CONNECT example.org:443 HTTP/1.1\r\nHost: example.org:443\r\n\r\n');
    assert.equal(rawStatus(answer), 405, answer);
    assert.match(answer, /Allow: GET, HEAD, PUT, POST, DELETE, PATCH\r\n/);
    assert.equal(bodyOf(answer).title, 'Method not allowed');
  });

  it('answers a broken request line with 400 and a problem document', async () => {
    const answer = await rawRequest(t.url, 'GET /sessions/v1/k HTXP/1.1\r\n\r\n');
    assert.equal(rawStatus(answer), 400, answer);
    assert.match(answer, /^HTTP\/1\.1 400 Bad Request\r\n/, 'the standard reason phrase');
    assert.equal(bodyOf(answer).type, 'https://www.mediawiki.org/wiki/Kask/errors/bad_request');
  });

  it('answers an oversized header block with 431', async () => {
    const answer = await rawRequest(t.url, `GET ${path}k HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    assert.equal(rawStatus(answer), 431, answer.slice(0, 200));
  });

  it('refuses Content-Length together with Transfer-Encoding', async () => {
    const answer = await rawRequest(
      t.url,
      `PUT ${path}k HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n`,
    );
    assert.equal(rawStatus(answer), 400, answer);
  });

  for (const [name, head] of [
    ['a Transfer-Encoding other than chunked', 'Transfer-Encoding: gzip\r\n'],
    ['chunked twice', 'Transfer-Encoding: chunked, chunked\r\n'],
    ['whitespace before the colon', 'Transfer-Encoding : chunked\r\n'],
    ['a folded header line', 'X-Folded: a\r\n b\r\nContent-Length: 3\r\n'],
    ['two different Content-Lengths', 'Content-Length: 3\r\nContent-Length: 4\r\n'],
    ['a signed Content-Length', 'Content-Length: +3\r\n'],
    ['a NUL in a header value', 'X-Nul: a\u0000b\r\nContent-Length: 3\r\n'],
  ] as const) {
    it(`refuses ${name} with 400, without storing anything`, async () => {
      const answer = await rawRequest(t.url, `PUT ${path}smuggled HTTP/1.1\r\nHost: x\r\n${head}\r\nabc\r\n0\r\n\r\n`);
      assert.equal(rawStatus(answer), 400, answer.slice(0, 300));
      assert.match(answer, /application\/problem\+json/);
      assert.equal((await request(`${t.base}smuggled`)).status, 404);
    });
  }

  // Well-formed otherwise (a valid chunked body, an exact length): refused for the framing alone.
  for (const [name, bytes] of [
    ['Transfer-Encoding in HTTP/1.0', (path: string) => `PUT ${path}smuggled HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n`],
    ['a transfer coding before chunked', (path: string) => `PUT ${path}smuggled HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n`],
    ['two Host fields', (path: string) => `PUT ${path}smuggled HTTP/1.1\r\nHost: x\r\nHost: y\r\nContent-Length: 3\r\n\r\nabc`],
  ] as const) {
    it(`refuses ${name} with 400 and closes, without storing anything`, async () => {
      const answer = await rawRequest(t.url, `${bytes(path)}GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n`);
      assert.equal(rawStatus(answer), 400, answer.slice(0, 300));
      assert.match(answer, /application\/problem\+json/);
      assert.match(answer, /\r\nConnection: close\r\n/i);
      assert.equal(answer.match(/HTTP\/1\.1 /g)?.length, 1, 'the request pipelined behind it is not served');
      assert.equal((await request(`${t.base}smuggled`)).status, 404);
    });
  }

  it('serves an absolute-form target by its path', async () => {
    const answer = await rawRequest(t.url, `PUT http://firkin.example${path}absolute HTTP/1.1\r\nHost: firkin.example\r\nContent-Length: 3\r\n\r\nabs`);
    assert.equal(rawStatus(answer), 201, answer.slice(0, 300));
    assert.equal((await request(`${t.base}absolute`)).body.toString(), 'abs');
  });

  it('answers a request asking to upgrade as an ordinary one, and closes (nothing after it is read)', async () => {
    const answer = await rawRequest(t.url, `GET ${path}upgrade HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n`);
    assert.equal(rawStatus(answer), 404, answer.slice(0, 300));
    assert.match(answer, /\r\nConnection: close\r\n/i);
  });

  it('answers a client that half-closes its side right after the request', async () => {
    const answer = await rawRequest(t.url, `PUT ${path}halfclosed HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhc`, { halfClose: true });
    assert.equal(rawStatus(answer), 201, answer);
    assert.equal((await request(`${t.base}halfclosed`)).body.toString(), 'hc');
  });

  it('refuses repeated conditional headers with 400', async () => {
    const answer = await rawRequest(t.url, `PUT ${path}dup HTTP/1.1\r\nHost: x\r\nIf-None-Match: *\r\nIf-None-Match: *\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx`);
    assert.equal(rawStatus(answer), 400, answer.slice(0, 300));
    const conflicting = await rawRequest(t.url, `PUT ${path}dup HTTP/1.1\r\nHost: x\r\nIf-Match: *\r\nIf-Match: "abc"\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx`);
    assert.equal(rawStatus(conflicting), 400, conflicting.slice(0, 300));
  });

  it('answers raw bytes outside ASCII in the path with 400', async () => {
    const answer = await rawRequest(t.url, Buffer.concat([Buffer.from(`GET ${path}k`), Buffer.from([0xc3, 0xa9]), Buffer.from(' HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')]));
    assert.equal(rawStatus(answer), 400, answer);
  });

  it('cuts off a chunked body as soon as it passes the limit, with 413, and closes', async () => {
    const chunk = 'a'.repeat(600);
    const head = `PUT ${path}chunky HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n`;
    // Two chunks cross the 1024-byte limit; the rest would never end if the server kept reading.
    const body = `258\r\n${chunk}\r\n258\r\n${chunk}\r\n`;
    const answer = await rawRequest(t.url, head + body, { waitMs: 3000 });
    assert.equal(rawStatus(answer), 413, answer);
    assert.match(answer, /Connection: close/i);
    const after = await rawRequest(t.url, `GET ${path}chunky HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    assert.equal(rawStatus(after), 404, 'nothing stored');
  });

  it('answers a declared Content-Length over the limit with 413 before any body is sent', async () => {
    const answer = await rawRequest(t.url, `PUT ${path}declared HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n`);
    assert.equal(rawStatus(answer), 413, answer);
    assert.match(answer, /Connection: close/i);
  });

  it('does not invite a body it will refuse (Expect: 100-continue)', async () => {
    const refused = await rawRequest(t.url, `PUT ${path}big HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n`);
    assert.equal(rawStatus(refused), 413, refused);
    assert.doesNotMatch(refused, /100 Continue/);
    const invited = await rawRequest(
      t.url,
      `PUT ${path}small HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\nhello`,
    );
    assert.match(invited, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 201 /, invited);
  });

  it('answers any other expectation with a 417 problem document', async () => {
    const answer = await rawRequest(t.url, `GET ${path}k HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\nConnection: close\r\n\r\n`);
    assert.equal(rawStatus(answer), 417, answer);
    assert.match(answer, /Cache-Control: no-store/);
    assert.match(answer, /X-Request-ID: /);
    assert.equal(bodyOf(answer).type, 'urn:firkin:problem:expectation-failed');
  });

  it('answers an unknown method with 405 and Allow, even one Node cannot parse', async () => {
    const answer = await rawRequest(t.url, `FROB ${path}k HTTP/1.1\r\nHost: x\r\n\r\n`);
    assert.equal(rawStatus(answer), 405, answer);
    assert.match(answer, /^HTTP\/1\.1 405 Method Not Allowed\r\n/);
    assert.match(answer, /Allow: GET, HEAD, PUT, POST, DELETE, PATCH\r\n/);
    assert.match(answer, /X-Request-ID: /);
  });

  it('serves a request without a Host header like any other', async () => {
    const answer = await rawRequest(t.url, `GET ${path}no-host HTTP/1.1\r\nConnection: close\r\n\r\n`);
    assert.equal(rawStatus(answer), 404, answer);
    assert.equal(bodyOf(answer).type, 'https://www.mediawiki.org/wiki/Kask/errors/not_found');
  });

  it('stores a chunked body within the limit', async () => {
    const answer = await rawRequest(
      t.url,
      `PUT ${path}chunked-ok HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n`,
    );
    assert.equal(rawStatus(answer), 201, answer);
    const got = await rawRequest(t.url, `GET ${path}chunked-ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    assert.ok(got.endsWith('hello world'), got);
  });
});
