/**
 * When storage fails, Firkin answers 503 with Retry-After: never a crash, never
 * a false success, and never a loss of what was stored before.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { request } from '../helpers/http.js';
import { spawnFirkin } from '../helpers/process.js';
import { startTestService } from '../helpers/service.js';
import { tempDir } from '../helpers/tmp.js';

describe('storage failures', () => {
  it('a full disk answers 503 to writes, keeps serving reads and recovers when space is freed', async () => {
    const dir = tempDir();
    // 2 MiB is all the data file may grow to.
    const proc = await spawnFirkin(dir, { max_value_bytes: 200_000 }, { fileSizeLimitKiB: 2048 });
    const base = `${proc.url}/sessions/v1/`;
    const stored = new Map<string, Buffer>();
    const statuses: number[] = [];
    for (let i = 0; i < 30; i++) {
      const value = randomBytes(150_000);
      const reply = await request(`${base}big${i}`, { method: 'PUT', body: value });
      statuses.push(reply.status);
      if (reply.status === 201) stored.set(`big${i}`, value);
      else {
        assert.equal(reply.status, 503, `write ${i}: ${reply.status}`);
        assert.equal(reply.headers['retry-after'], '1');
        assert.equal(reply.json().type, 'urn:firkin:problem:storage-unavailable');
      }
    }
    assert.ok(stored.size >= 3, `some writes fit: ${statuses}`);
    assert.ok(statuses.includes(503), `the disk filled: ${statuses}`);
    // A write answered 503 was not stored; every 201 reads back.
    for (let i = 0; i < 30; i++) {
      const got = await request(`${base}big${i}`);
      if (stored.has(`big${i}`)) assert.ok(got.body.equals(stored.get(`big${i}`)!), `big${i} intact`);
      else assert.equal(got.status, 404, `big${i} was refused, so it must be absent`);
    }
    // Freeing space makes writes work again, without a restart.
    for (const key of stored.keys()) assert.equal((await request(base + key, { method: 'DELETE' })).status, 204);
    assert.equal((await request(`${base}after`, { method: 'PUT', body: randomBytes(150_000) })).status, 201);
    assert.equal(proc.child.exitCode, null, 'still running');
    const errors = proc.stdout.map((l) => JSON.parse(l) as { level: string; msg: string }).filter((l) => l.level === 'ERROR');
    assert.ok(errors.some((l) => l.msg === 'storage unavailable'), 'the failure is logged');
    proc.child.kill('SIGTERM');
    assert.equal(await proc.exited, 0);
  });

  it('an engine that stopped answers 503 to every operation', async () => {
    const t = await startTestService();
    await request(`${t.base}k`, { method: 'PUT', body: 'x' });
    await t.service.engine.close();
    for (const method of ['GET', 'HEAD', 'PUT', 'DELETE']) {
      const reply = await request(`${t.base}k`, { method, body: method === 'PUT' ? 'y' : undefined });
      assert.equal(reply.status, 503, method);
      assert.equal(reply.headers['retry-after'], '1');
    }
  });
});
