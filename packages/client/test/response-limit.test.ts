/**
 * maxResponseBytes, against fake servers that answer with too much: an endless
 * body (chunked, no length) is cut off once the limit is passed, a declared
 * Content-Length beyond it is refused before any of the body is read; both fail
 * at once (not at timeoutMs, not retried) with FirkinResponseTooLargeError.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import { FirkinClient, FirkinResponseTooLargeError, FirkinUnavailableError } from '../src/index.js';

const LIMIT = 64 * 1024;
const CHUNK = Buffer.alloc(16 * 1024, 'x');
/** Bytes of body the server got to write (kernel buffers accepted them) before the client hung up. */
let written = 0;
let requests = 0;

const server = http.createServer((req, res) => {
  requests++;
  req.resume();
  if (req.url!.endsWith('/declared')) {
    // Claims a body far beyond the limit, then trickles it.
    res.writeHead(200, { 'content-length': String(1024 * 1024 * 1024), etag: '"e"' });
    const timer = setInterval(() => res.write(CHUNK, () => (written += CHUNK.length)), 10);
    res.on('close', () => clearInterval(timer));
    return;
  }
  if (req.url!.endsWith('/small')) return void res.writeHead(200, { etag: '"e"' }).end(Buffer.alloc(LIMIT, 'y'));
  // Endless: write as fast as the client reads, until the connection closes.
  res.writeHead(200, { etag: '"e"' });
  const pump = (): void => {
    while (!res.destroyed && res.write(CHUNK, () => (written += CHUNK.length)));
  };
  res.on('drain', pump);
  pump();
});

let base: string;
before(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/sessions/v1/`;
});
after(() => {
  server.closeAllConnections();
  server.close();
});
beforeEach(() => {
  written = 0;
  requests = 0;
});

const tooLarge = (err: unknown): boolean => {
  assert.ok(err instanceof FirkinResponseTooLargeError, String(err));
  assert.ok(err instanceof FirkinUnavailableError);
  assert.equal(err.status, 200);
  assert.equal(err.limit, LIMIT);
  assert.match(err.message, /maxResponseBytes/);
  return true;
};

describe('FirkinClient maxResponseBytes', () => {
  it('cuts off an endless body soon after the limit, at once and without retrying', async () => {
    const client = new FirkinClient({ baseUrl: base, timeoutMs: 10_000, maxResponseBytes: LIMIT });
    const started = Date.now();
    await assert.rejects(client.get('endless'), tooLarge);
    const took = Date.now() - started;
    client.close();
    await new Promise((resolve) => setTimeout(resolve, 100)); // the server sees the connection close
    assert.ok(took < 2000, `failed after ${took} ms, not at timeoutMs`);
    assert.equal(requests, 1, 'not retried');
    // What the client could have received: the limit, plus what loopback socket buffers held (a few MB at most), not an endless stream.
    assert.ok(written < LIMIT + 16 * 1024 * 1024, `${written} bytes written before the client hung up`);
  });

  it('refuses a declared Content-Length beyond the limit before reading the body', async () => {
    const client = new FirkinClient({ baseUrl: base, timeoutMs: 10_000, maxResponseBytes: LIMIT });
    const started = Date.now();
    await assert.rejects(client.get('declared'), tooLarge);
    client.close();
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.ok(Date.now() - started < 1000);
    assert.ok(written <= 2 * CHUNK.length, `${written} bytes written`);
  });

  it('reads a body exactly at the limit', async () => {
    const client = new FirkinClient({ baseUrl: base, maxResponseBytes: LIMIT });
    assert.equal((await client.get('small'))?.value.length, LIMIT);
    client.close();
  });

  it('refuses a maxResponseBytes that is not a positive whole number', () => {
    for (const maxResponseBytes of [0, -1, 1.5, Number.NaN]) {
      assert.throws(() => new FirkinClient({ baseUrl: base, maxResponseBytes }), RangeError);
    }
  });
});
