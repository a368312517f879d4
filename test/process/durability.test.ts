/**
 * The embedded engine as an operator runs it: a real `firkin serve` process,
 * stopped gracefully or killed with SIGKILL while writes are in flight. Every
 * write that was answered 201 must be there after a restart.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from '../helpers/http.js';
import { spawnFirkin } from '../helpers/process.js';
import { tempDir } from '../helpers/tmp.js';

describe('embedded durability across process restarts', () => {
  it('stops gracefully on SIGTERM with exit 0 and keeps what it stored', async () => {
    const dir = tempDir();
    const first = await spawnFirkin(dir, {});
    assert.equal((await request(`${first.url}/sessions/v1/graceful`, { method: 'PUT', body: 'kept' })).status, 201);
    first.child.kill('SIGTERM');
    assert.equal(await first.exited, 0);
    assert.ok(first.stdout.some((l) => JSON.parse(l).msg === 'stopped'));
    const second = await spawnFirkin(dir, {});
    assert.equal((await request(`${second.url}/sessions/v1/graceful`)).body.toString(), 'kept');
    second.child.kill('SIGTERM');
    await second.exited;
  });

  it('loses none of 1000+ acknowledged writes when killed with SIGKILL mid-load (3 rounds or more)', async (t) => {
    const dir = tempDir();
    const acknowledged = new Map<string, Buffer>();
    let attempted = 0;
    let round = 0;
    // At least three rounds, and on until 1000 writes have been acknowledged (at most ten rounds).
    for (; round < 3 || (acknowledged.size < 1000 && round < 10); round++) {
      const proc = await spawnFirkin(dir, {});
      // Everything acknowledged in earlier rounds survived the kill.
      for (const [key, value] of acknowledged) {
        const got = await request(`${proc.url}/sessions/v1/${key}`);
        assert.equal(got.status, 200, `round ${round}: ${key} lost`);
        assert.ok(got.body.equals(value), `round ${round}: ${key} changed`);
      }
      // Write from 8 concurrent clients until the process is killed under them.
      let killed = false;
      const writer = async (w: number): Promise<void> => {
        for (let i = 0; !killed; i++) {
          const key = `r${round}w${w}i${i}`;
          const value = randomBytes(64 + ((w * 131 + i) % 2000));
          attempted++;
          try {
            const reply = await request(`${proc.url}/sessions/v1/${key}`, { method: 'PUT', body: value });
            if (reply.status === 201) acknowledged.set(key, value);
          } catch {
            return; // connection refused or reset: the process is gone
          }
        }
      };
      const writers = Array.from({ length: 8 }, (_, w) => writer(w));
      await sleep(300 + Math.floor(Math.random() * 400));
      killed = true;
      proc.child.kill('SIGKILL');
      assert.equal(await proc.exited, 'SIGKILL');
      await Promise.all(writers);
    }
    const last = await spawnFirkin(dir, {});
    let missing = 0;
    for (const [key, value] of acknowledged) {
      const got = await request(`${last.url}/sessions/v1/${key}`);
      if (got.status !== 200 || !got.body.equals(value)) missing++;
    }
    t.diagnostic(`SIGKILL durability: ${round} rounds, ${attempted} writes attempted, ${acknowledged.size} acknowledged, ${missing} lost`);
    assert.ok(acknowledged.size >= 1000, `only ${acknowledged.size} writes were acknowledged in ${round} rounds`);
    assert.equal(missing, 0);
    last.child.kill('SIGTERM');
    await last.exited;
  });
});
