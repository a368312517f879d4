/** Reading a request body: complete, aborted by its client, too slow (one pace timer for all bodies). */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { BodyResult } from '../../src/base/request.js';
import { bodiesReceiving, PACE_CHECK_MS, readBody } from '../../src/transport/body.js';

describe('readBody', () => {
  let server: Server;
  let port: number;
  const results: Array<(r: BodyResult) => void> = [];
  const errors: unknown[] = [];
  const onUncaught = (err: unknown): void => void errors.push(err);

  before(async () => {
    process.on('uncaughtException', onUncaught);
    server = createServer((req, res) => {
      void readBody(req, 1_000_000, { pace: { graceMs: 300, minBytesPerSecond: 16 * 1024 }, take: () => true }).then((r) => {
        results.shift()?.(r);
        if (!res.destroyed) res.end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  after(async () => {
    process.off('uncaughtException', onUncaught);
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  const next = (): Promise<BodyResult> => new Promise((resolve) => results.push(resolve));
  const send = (head: string, body: string): ReturnType<typeof connect> => {
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    socket.write(`POST /k HTTP/1.1\r\nHost: x\r\n${head}\r\n${body}`);
    return socket;
  };

  it('gives the whole body once it has arrived', async () => {
    const result = next();
    const socket = send('Content-Length: 5\r\n', 'hello');
    const r = await result;
    assert.deepEqual(r.ok && r.body.toString(), 'hello');
    assert.equal(bodiesReceiving(), 0);
    socket.destroy();
  });

  it('answers aborted when the client goes away mid-body, with no error thrown and nothing left watched', async () => {
    const result = next();
    const socket = send('Content-Length: 1000\r\n', 'only ten b');
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(bodiesReceiving(), 1, 'the body is watched while it arrives');
    socket.destroy();
    const r = await result;
    assert.deepEqual(r, { ok: false, reason: 'aborted' });
    assert.equal(bodiesReceiving(), 0);
    assert.deepEqual(errors, []);
  });

  it('gives up a body that stops arriving, within one check of falling behind', async () => {
    const result = next();
    const started = performance.now();
    const socket = send('Content-Length: 1000\r\n', 'only ten b');
    const r = await result;
    const took = performance.now() - started;
    assert.deepEqual(r, { ok: false, reason: 'too-slow' });
    // Behind after 300 ms + 10 bytes at 16 KiB/s; noticed by the next check.
    assert.ok(took >= 290 && took < 300 + PACE_CHECK_MS + 200, `given up after ${took.toFixed(0)} ms`);
    assert.equal(bodiesReceiving(), 0);
    socket.destroy();
  });
});
