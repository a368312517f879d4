// test-tier: full (slow: 8 s alone on two cores; scripts/test-files.mjs)
/**
 * What a client that pipelines, or never reads, can hold: one request at a time
 * per connection (pipelined ones wait their turn, answered in order), a bounded
 * queue of waiting requests, in-flight slots and response bytes held until the
 * response has left, and a write timeout that cuts a client that stops reading.
 */
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { describe, it } from 'node:test';
import { snapshot } from '../../src/base/snapshot.js';
import { MAX_PIPELINED } from '../../src/transport/lane.js';
import { openSocket, request, type Reply } from '../helpers/http.js';
import { startTestService } from '../helpers/service.js';
import { until } from '../helpers/wait.js';

const MiB = 1024 * 1024;

/** Write `count` pipelined GETs of `path` in one write; the socket is paused (never read) unless `read`. */
async function pipeline(url: string, path: string, count: number, read = false): Promise<{ socket: Socket; text: () => string; closed: () => boolean }> {
  const socket = await openSocket(url);
  let text = '';
  let closed = false;
  socket.on('close', () => (closed = true));
  socket.on('error', () => undefined);
  if (read) socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
  else socket.pause();
  socket.write(`GET ${path} HTTP/1.1\r\nHost: t\r\n\r\n`.repeat(count));
  return { socket, text: () => text, closed: () => closed };
}

/** Read what a paused client was sent; resolves with the number of whole answers once the server has closed. */
async function drainToClose(c: { socket: Socket; closed: () => boolean }, marker: RegExp): Promise<number> {
  let text = '';
  c.socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
  c.socket.resume();
  await until(() => c.closed(), 'the server to close the connection', 5000);
  return (text.match(marker) ?? []).length;
}

describe('pipelining and slow readers', () => {
  it('answers pipelined requests in order, up to the queue bound, reading on as answers leave', async () => {
    const t = await startTestService({ max_in_flight: 2 });
    for (let i = 0; i < 3; i++) assert.equal((await request(`${t.base}pipe-key-${i}`, { method: 'PUT', body: `value-${i}` })).status, 201);
    // More requests than max_in_flight on one connection: served one at a time, so never 503.
    const count = MAX_PIPELINED + 1;
    const c = await pipeline(t.url, '/sessions/v1/pipe-key-1', count, true);
    await until(() => (c.text().match(/HTTP\/1\.1 200/g) ?? []).length === count, `${count} answers`);
    assert.equal(c.text().match(/value-1/g)?.length, count);
    // Ten more batches of ten, a few milliseconds apart: reading goes on as answers leave.
    for (let i = 0; i < 10; i++) {
      c.socket.write(`GET /sessions/v1/pipe-key-${i % 3} HTTP/1.1\r\nHost: t\r\n\r\n`.repeat(10));
      await new Promise((r) => setTimeout(r, 20));
    }
    await until(() => (c.text().match(/HTTP\/1\.1 200/g) ?? []).length === count + 100, 'a hundred more answers');
    const order = [...c.text().matchAll(/value-(\d)/g)].map((m) => Number(m[1]));
    const expected = [...Array<number>(count).fill(1), ...Array.from({ length: 100 }, (_, j) => Math.floor(j / 10) % 3)];
    assert.deepEqual(order, expected, 'answers in request order');
    assert.equal(c.closed(), false);
    c.socket.destroy();
  });

  it('serves a client that pipelines behind an answer it does not read, reading on for a waiting body', async () => {
    const t = await startTestService({ write_timeout_ms: 20_000 });
    assert.equal((await request(`${t.base}slow-reader-key`, { method: 'PUT', body: Buffer.alloc(900 * 1024, 0x63) })).status, 201);
    const socket = await openSocket(t.url);
    socket.pause();
    let closed = false;
    socket.on('close', () => (closed = true));
    socket.on('error', () => undefined);
    // 30 GETs in 30 writes while the answers pile up unread, then a PUT whose body is not all sent.
    for (let i = 0; i < 30; i++) {
      socket.write('GET /sessions/v1/slow-reader-key HTTP/1.1\r\nHost: t\r\n\r\n');
      await new Promise((r) => setTimeout(r, 10));
    }
    socket.write('PUT /sessions/v1/late-body-key HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nhello');
    let text = '';
    socket.on('data', (d: Buffer) => (text += d.toString('latin1').replace(/c{1000,}/g, '')));
    socket.resume();
    await until(() => (text.match(/HTTP\/1\.1 200/g) ?? []).length === 30 || closed, 'thirty answers', 15_000);
    assert.equal(closed, false);
    socket.write('world'); // the rest of the body, read once the PUT's turn has come
    await until(() => /HTTP\/1\.1 201/.test(text), 'the PUT answered', 5000);
    assert.equal((await request(`${t.base}late-body-key`)).body.toString(), 'helloworld');
    socket.destroy();
  });

  it('drops pipelined requests after a Connection: close answer without holding their slots', async () => {
    const t = await startTestService({ max_in_flight: 1, shutdown_delay_ms: 3000 });
    const closing = t.service.close(100); // draining: every answer says Connection: close
    const c = await pipeline(t.url, '/sessions/v1/draining-key', 2, true);
    await until(() => c.closed(), 'the connection closed after the first answer');
    assert.equal((c.text().match(/HTTP\/1\.1 404/g) ?? []).length, 1);
    // The second request never ran, so the only slot is free: a new connection is served.
    assert.equal((await request(`${t.base}draining-key`)).status, 404);
    await closing;
  });

  it('disconnects a client with more requests waiting than the queue holds', async () => {
    const t = await startTestService();
    const c = await pipeline(t.url, '/sessions/v1/deep-pipe-key', MAX_PIPELINED + 2, true);
    await until(() => c.closed(), 'the connection closed');
    assert.ok((c.text().match(/HTTP\/1\.1 404/g) ?? []).length < MAX_PIPELINED + 2, 'not every request was answered');
    assert.equal((await request(`${t.base}deep-pipe-key`)).status, 404, 'the service serves others');
  });

  it('holds an in-flight slot until the response has left, and frees it at the write timeout', async () => {
    const t = await startTestService({ max_in_flight: 1, write_timeout_ms: 1500, max_buffered_bytes: 64 * MiB });
    assert.equal((await request(`${t.base}big-value-key`, { method: 'PUT', body: Buffer.alloc(MiB, 0x61) })).status, 201);
    // A client that never reads: the kernel takes a few responses, then one stays in the process.
    const slow = await pipeline(t.url, '/sessions/v1/big-value-key', MAX_PIPELINED);
    let refused: Reply | undefined;
    await until(async () => (refused = await request(`${t.base}other-key-1`)).status === 503, 'the only slot held by the stalled response');
    assert.equal(refused!.json().type, 'urn:firkin:problem:overloaded');
    await until(async () => (await request(`${t.base}other-key-1`)).status === 404, 'the slot free again (write timeout)', 5000);
    assert.ok((await drainToClose(slow, /HTTP\/1\.1 200/g)) < MAX_PIPELINED, 'the stalled connection was cut before every answer');
  });

  it('refuses a response that does not fit the byte budget with 503, and serves it once the budget frees', async () => {
    const t = await startTestService({ max_buffered_bytes: MiB, write_timeout_ms: 1500 });
    assert.equal((await request(`${t.base}budget-key-1`, { method: 'PUT', body: Buffer.alloc(MiB, 0x62) })).status, 201);
    const slow = await pipeline(t.url, '/sessions/v1/budget-key-1', MAX_PIPELINED);
    let refused: Reply | undefined;
    await until(async () => (refused = await request(`${t.base}budget-key-1`)).status === 503, 'a response held in the process');
    assert.match(String(refused!.json().detail), /response bytes/);
    assert.equal(refused!.headers['retry-after'], '1');
    assert.equal((await request(`${t.base}absent-key-1`)).status, 404, 'small answers are not refused');
    await until(async () => (await request(`${t.base}absent-key-1`)).status === 404 && (await request(`${t.base}budget-key-1`)).status === 200, 'the budget freed (write timeout)', 5000);
    assert.ok((await drainToClose(slow, /HTTP\/1\.1 200/g)) < MAX_PIPELINED, 'the stalled connection was cut');
    const served = await request(`${t.base}budget-key-1`);
    assert.equal(served.status, 200);
    assert.equal(served.body.length, MiB);
  });
});

describe('metrics snapshot', () => {
  it('shares one computation among overlapping callers and keeps its result for maxAge', async () => {
    let now = 0;
    let runs = 0;
    let release!: () => void;
    const get = snapshot(1000, () => new Promise<number>((resolve) => (release = () => resolve(++runs))), () => now);
    const both = Promise.all([get(), get()]);
    release();
    assert.deepEqual(await both, [1, 1], 'overlapping callers share one run');
    now = 999;
    assert.equal(await get(), 1, 'within maxAge: the same result');
    now = 1000;
    const third = get();
    release();
    assert.equal(await third, 2, 'older: computed again');
  });

  it('does not keep a failure', async () => {
    let fail = true;
    const get = snapshot(60_000, async () => {
      if (fail) throw new Error('no');
      return 'ok';
    });
    await assert.rejects(get());
    fail = false;
    assert.equal(await get(), 'ok');
  });

  it('answers overlapping scrapes from one collection', async () => {
    const t = await startTestService({ metrics_max_age_ms: 60_000 });
    const before = await request(`${t.url}/metrics`);
    assert.equal((await request(`${t.base}scrape-key-1`)).status, 404);
    const scrapes = await Promise.all(Array.from({ length: 50 }, () => request(`${t.url}/metrics`)));
    assert.ok(scrapes.every((s) => s.status === 200));
    assert.ok(scrapes.every((s) => s.body.equals(before.body)), 'the snapshot, not a new collection');
  });
});
