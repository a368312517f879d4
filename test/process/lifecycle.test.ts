/**
 * Lifecycle of a real `firkin serve` process: SIGTERM drains in-flight requests
 * (bounded by drain_timeout_ms), closes the engine and exits 0; SIGHUP re-opens
 * the log destination without stopping anything.
 */
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { openSocket, readUntilClose, request } from '../helpers/http.js';
import { spawnFirkin } from '../helpers/process.js';
import { scrape } from '../helpers/prometheus.js';
import { tempDir } from '../helpers/tmp.js';
import { holds, until } from '../helpers/wait.js';

const msgs = (stdout: string[]): string[] => stdout.map((l) => String((JSON.parse(l) as { msg: string }).msg));

describe('lifecycle', () => {
  it('SIGTERM: stops accepting, finishes the request in flight, closes the engine, exits 0', async () => {
    const dir = tempDir();
    const config = { embedded: { path: 'data' }, drain_timeout_ms: 10_000 };
    const f = await spawnFirkin(dir, config);

    f.child.kill('SIGHUP');
    assert.equal((await request(`${f.url}/healthz`)).status, 200, 'SIGHUP does not stop the service');

    // A write in flight: head and half the body sent.
    const slow = await openSocket(f.url);
    const reply = readUntilClose(slow);
    slow.write('PUT /sessions/v1/drained HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello');
    await sleep(200);
    f.child.kill('SIGTERM');
    await sleep(300);
    await assert.rejects(openSocket(f.url), /ECONNREFUSED/, 'no new connections while draining');
    assert.equal(f.child.exitCode, null, 'still running while a request is in flight');
    slow.write('world');
    const text = await reply;
    assert.match(text, /^HTTP\/1\.1 201 /, 'the request in flight completes');
    assert.match(text, /\r\nconnection: close\r\n/i, 'and the client is told to reconnect elsewhere');
    assert.equal(await f.exited, 0);
    const log = msgs(f.stdout);
    assert.ok(log.includes('log destination re-opened'));
    assert.ok(log.includes('stopping: draining in-flight requests'));
    assert.equal(log.at(-1), 'stopped', 'stopped is logged last');

    const again = await spawnFirkin(dir, config);
    const got = await request(`${again.url}/sessions/v1/drained`);
    assert.equal(got.body.toString(), 'helloworld', 'the drained write was kept');
    again.child.kill('SIGTERM');
    assert.equal(await again.exited, 0);
  });

  it('SIGTERM: a request that never completes is dropped after drain_timeout_ms', async () => {
    const f = await spawnFirkin(tempDir(), { embedded: { path: 'data' }, drain_timeout_ms: 500 });
    const stuck = await openSocket(f.url);
    const closed = readUntilClose(stuck);
    stuck.write('PUT /sessions/v1/stuck HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc');
    await sleep(100);
    const started = Date.now();
    f.child.kill('SIGTERM');
    assert.equal(await f.exited, 0);
    const took = Date.now() - started;
    assert.ok(took >= 450 && took < 5000, `exited after ${took} ms`);
    assert.equal(await closed, '', 'the unfinished request got no false answer');
  });

  it('SIGTERM with shutdown_delay_ms: keeps accepting while /readyz says 503, then stops', async () => {
    const f = await spawnFirkin(tempDir(), { embedded: { path: 'data' }, shutdown_delay_ms: 1500 });
    assert.equal((await request(`${f.url}/readyz`)).status, 200);
    f.child.kill('SIGTERM');
    await sleep(300);
    const during = await request(`${f.url}/readyz`);
    assert.equal(during.status, 503, 'a load balancer sees not-ready');
    assert.match(String(during.json().detail), /shutting down/);
    assert.equal(during.headers.connection, 'close');
    const write = await request(`${f.url}/sessions/v1/late`, { method: 'POST', body: 'v' });
    assert.equal(write.status, 201, 'requests are still served during the delay');
    await sleep(1700);
    await assert.rejects(openSocket(f.url), /ECONNREFUSED/, 'the listener is closed after the delay');
    assert.equal(await f.exited, 0);
  });

  it('keeps serving when the syslog socket cannot be reached, counting the dropped lines', async () => {
    const port = await freePort();
    // No `logger` on this PATH: the local-socket destination cannot start.
    const f = await spawnFirkin(
      tempDir(),
      { listen_port: port, embedded: { path: 'data' }, log: { syslog: { path: '/nonexistent/log.sock' } } },
      { url: waitForPort(port), env: { ...process.env, PATH: '/nonexistent' } },
    );
    assert.equal((await request(`${f.url}/sessions/v1/k`, { method: 'POST', body: 'v' })).status, 201);
    const dropped = (await scrape(f.url)).value('firkin_log_lines_dropped_total');
    assert.ok(dropped >= 1, `dropped ${dropped}`);
    const started = Date.now();
    f.child.kill('SIGTERM');
    assert.equal(await f.exited, 0);
    assert.ok(Date.now() - started < 3000, 'and stops promptly');
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number): Promise<string> {
  const url = `http://127.0.0.1:${port}`;
  await until(() => holds(async () => (await request(`${url}/healthz`)).status === 200), `/healthz on port ${port}`, 15_000);
  return url;
}
