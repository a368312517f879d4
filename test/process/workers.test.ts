/**
 * `workers`: several processes on one port (node:cluster) over one embedded
 * store. Conditional writes stay atomic across processes, /metrics and
 * /admin/top-keys speak for the whole cluster, a dead worker is replaced, and
 * SIGTERM stops them all.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { createServer, type AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from '../helpers/http.js';
import { spawnFirkin } from '../helpers/process.js';
import { scrape } from '../helpers/prometheus.js';
import { tempDir } from '../helpers/tmp.js';
import { holds, until } from '../helpers/wait.js';

function workerPids(primary: number): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(primary)], { encoding: 'utf8' }).trim().split('\n').filter(Boolean).map(Number);
  } catch {
    return []; // pgrep exits 1 when there are none
  }
}

describe('workers', () => {
  it('serve one port from several processes, atomically, with cluster-wide metrics', async () => {
    // A fixed port: once every worker is gone the port is released, and new workers on port 0 would get another.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as AddressInfo;
    await new Promise((resolve) => probe.close(resolve));
    const f = await spawnFirkin(tempDir(), { embedded: { path: 'data' }, workers: 2, listen_port: port });
    await sleep(500); // both workers up
    const pids = workerPids(f.child.pid!);
    assert.equal(pids.length, 2, 'two worker processes');

    // Fresh connections spread over both workers; exactly one add wins.
    const adds = await Promise.all(
      Array.from({ length: 40 }, (_, i) => request(`${f.url}/sessions/v1/contended-key-0001`, { method: 'PUT', body: `w${i}`, headers: { 'if-none-match': '*' } })),
    );
    assert.deepEqual(adds.map((r) => r.status).sort().filter((s, i, a) => a.indexOf(s) === i), [201, 412]);
    assert.equal(adds.filter((r) => r.status === 201).length, 1, 'one add across processes');
    const etag = (await request(`${f.url}/sessions/v1/contended-key-0001`)).headers.etag!;
    const cas = await Promise.all(
      Array.from({ length: 40 }, (_, i) => request(`${f.url}/sessions/v1/contended-key-0001`, { method: 'PUT', body: `c${i}`, headers: { 'if-match': etag } })),
    );
    assert.equal(cas.filter((r) => r.status === 201).length, 1, 'one compare-and-set across processes');

    const metrics = await scrape(f.url);
    assert.equal(metrics.value('http_requests_total', { method: 'PUT' }), 80, 'every worker counted, once');
    assert.equal(metrics.value('http_requests_total', { method: 'GET' }), 1);
    assert.equal(metrics.value('firkin_build_info'), 1);
    assert.equal(metrics.value('kask_build_info'), 1, 'max over the workers, not their sum');

    const top = (await request(`${f.url}/admin/top-keys`)).json() as {
      workers: { running: number; reporting: number };
      windows: { writes: number; top: { writes: number }[] }[];
    };
    assert.deepEqual(top.workers, { running: 2, reporting: 2 });
    assert.equal(top.windows[0]!.writes, 2, 'merged over the workers');
    assert.equal(top.windows[0]!.top.length, 1, 'one key, one hash in every worker');

    // A worker that dies is replaced; the service keeps answering meanwhile.
    process.kill(pids[0]!, 'SIGKILL');
    assert.equal((await request(`${f.url}/healthz`)).status, 200);
    let now: number[] = [];
    await until(() => ((now = workerPids(f.child.pid!)), now.length === 2 && !now.includes(pids[0]!)), 'a new worker in its place');

    // All of them at once: the primary stays up (nothing else holds its event loop) and replaces both.
    for (const pid of now) process.kill(pid, 'SIGKILL');
    const dead = now;
    await until(() => f.child.exitCode !== null || ((now = workerPids(f.child.pid!)), now.length === 2 && !now.some((p) => dead.includes(p))), 'both workers replaced');
    assert.equal(f.child.exitCode, null, 'the primary is still running');
    // Refused until a new worker listens.
    await until(() => holds(async () => (await request(`${f.url}/healthz`)).status === 200), 'the port served again');

    f.child.kill('SIGTERM');
    assert.equal(await f.exited, 0);
    await sleep(200);
    for (const pid of new Set([...pids, ...dead, ...now])) assert.throws(() => process.kill(pid, 0), `worker ${pid} left behind`);
  });

  it('log their pid on every line, and the signal the operator sent', async () => {
    const f = await spawnFirkin(tempDir(), { embedded: { path: 'data' }, workers: 2 });
    const lines = (): Record<string, unknown>[] => f.stdout.map((l) => JSON.parse(l) as Record<string, unknown>);
    await until(() => lines().filter((l) => l.msg === 'listening').length === 2 && lines().some((l) => l.msg === 'primary: workers listening'), 'both workers and the primary');
    f.child.kill('SIGINT');
    assert.equal(await f.exited, 0);
    const all = lines();
    const primary = f.child.pid!;
    const workers = new Set(all.filter((l) => l.msg === 'listening').map((l) => l.pid));
    assert.equal(workers.size, 2, 'two workers, each its own pid');
    assert.ok(!workers.has(primary));
    for (const line of all) assert.ok(line.pid === primary || workers.has(line.pid), `pid on ${JSON.stringify(line)}`);
    for (const line of all.filter((l) => String(l.msg).startsWith('primary:'))) assert.equal(line.pid, primary);
    const stopping = all.filter((l) => l.msg === 'stopping: draining in-flight requests');
    assert.deepEqual(new Set(stopping.map((l) => l.pid)), workers, 'each worker drained');
    for (const line of stopping) assert.equal(line.signal, 'SIGINT', 'SIGINT stays SIGINT in the workers');
    assert.equal(all.find((l) => l.msg === 'primary: stopping the workers')?.signal, 'SIGINT');
  });

  it('survive a SIGHUP that comes while the workers are still starting, and act on it once up', async () => {
    let hupSent = false;
    const f = await spawnFirkin(
      tempDir(),
      { embedded: { path: 'data' }, workers: 2 },
      {
        // As soon as the first worker exists: it is still loading its modules, where a SIGHUP would kill it.
        onSpawn: (child) => {
          const poll = setInterval(() => {
            if (child.exitCode !== null || workerPids(child.pid!).length === 0) return;
            clearInterval(poll);
            child.kill('SIGHUP');
            hupSent = true;
          }, 5);
        },
      },
    );
    assert.ok(hupSent, 'the SIGHUP came before the first worker listened');
    const lines = (): Record<string, unknown>[] => f.stdout.map((l) => JSON.parse(l) as Record<string, unknown>);
    await until(() => new Set(lines().filter((l) => l.msg === 'log destination re-opened').map((l) => l.pid)).size === 2, 'both workers re-opened their logs');
    assert.equal(f.child.exitCode, null, 'still running');
    assert.equal(lines().filter((l) => l.msg === 'listening').length, 2);
    assert.ok(!lines().some((l) => String(l.msg).startsWith('primary: a worker')), 'no worker died');
    f.child.kill('SIGTERM');
    assert.equal(await f.exited, 0);
  });

  it('report the one embedded store once, not once per worker, and every value reclaimed once', async () => {
    const dir = tempDir();
    const f = await spawnFirkin(dir, { embedded: { path: 'data' }, workers: 2 });
    await sleep(500); // both workers up
    // Fresh connections spread over both workers.
    await Promise.all(Array.from({ length: 20 }, (_, i) => request(`${f.url}/sessions/v1/long-${i}`, { method: 'PUT', body: 'v' })));
    await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        request(`${f.url}/sessions/v1/short-${i}`, { method: 'PUT', body: 'v', headers: { 'cache-control': 'max-age=1' } }),
      ),
    );
    const m = await scrape(f.url);
    assert.equal(m.value('firkin_embedded_entries', { namespace: 'default' }), 30, 'the largest reading, not the sum of two');
    assert.equal(m.value('firkin_embedded_file_bytes'), statSync(join(dir, 'data', 'firkin.mdb')).size);
    assert.ok(m.value('firkin_embedded_used_bytes') <= m.value('firkin_embedded_file_bytes'));
    // Each worker sweeps; an expired value is removed by one of them, in one transaction: summed, it counts once.
    let after = m;
    await until(async () => ((after = await scrape(f.url)), after.value('firkin_embedded_entries', { namespace: 'default' }) === 20), 'the sweep', 5000, 200);
    assert.equal(after.value('firkin_embedded_expired_reclaimed_total', { namespace: 'default' }), 10);
    f.child.kill('SIGTERM');
    assert.equal(await f.exited, 0);
  });

  it('stop with the failing worker\'s exit code when the workers cannot start', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as AddressInfo;
    try {
      await assert.rejects(
        spawnFirkin(tempDir(), { embedded: { path: 'data' }, workers: 2, listen_port: port }),
        /firkin exited \(1\) before listening/,
      );
    } finally {
      blocker.close();
    }
  });
});
