/**
 * Soak: mixed load at about 70 % of the measured maximum for FIRKIN_SOAK_SECONDS
 * (default 60; FIRKIN_SOAK_SECONDS=600 for the full ten minutes) against a real
 * `firkin serve` on the embedded engine. Zero errors, every acknowledged write
 * verified by a later read, and anonymous RSS growth after warm-up (the first
 * half) under 10 %.
 */
import assert from 'node:assert/strict';
import { Agent, request as httpRequest } from 'node:http';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { spawnFirkin } from '../helpers/process.js';
import { tempDir } from '../helpers/tmp.js';

const SECONDS = Number(process.env.FIRKIN_SOAK_SECONDS ?? 60);
const KEYS = 2000;
const agent = new Agent({ keepAlive: true, maxSockets: 256 });

function call(url: string, method: string, body?: Buffer): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * The server's anonymous resident memory (heap, buffers): what a leak grows. VmRSS also
 * counts LMDB's mapped file pages, which grow with the data file and are page cache.
 */
function rss(pid: number): { anon: number; total: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)![1]) * 1024;
  return { anon: kb('RssAnon'), total: kb('VmRSS') };
}

describe('soak', () => {
  it(`serves ${SECONDS} s of mixed load at 70 % of its maximum without an error or a lost write`, async (t) => {
    const f = await spawnFirkin(tempDir(), { embedded: { path: 'data' } });
    const base = `${f.url}/sessions/v1/`;
    const keys = Array.from({ length: KEYS }, (_, i) => `soak:MWSession:${i.toString(16).padStart(32, '0')}`);
    /** The value each key must hold: the last acknowledged write (undefined: absent). */
    const expected = new Map<string, Buffer | undefined>();
    const busy = new Set<string>();
    const errors: string[] = [];
    let requests = 0;

    /** One request on a random idle key; false if the key was busy (nothing sent). */
    const one = async (): Promise<boolean> => {
      let key = keys[Math.floor(Math.random() * KEYS)]!;
      // One request per key at a time, so its expected value stays exact.
      for (let tries = 0; busy.has(key) && tries < 8; tries++) key = keys[Math.floor(Math.random() * KEYS)]!;
      if (busy.has(key)) return false;
      busy.add(key);
      const url = base + encodeURIComponent(key);
      const p = Math.random();
      try {
        requests++;
        if (p < 0.72) {
          const r = await call(url, 'GET');
          const want = expected.get(key);
          if (r.status === 200 ? !want?.equals(r.body) : r.status !== 404 || want !== undefined) {
            errors.push(`GET ${key}: ${r.status}, ${want === undefined ? 'absent' : 'a value'} expected`);
          }
        } else if (p < 0.97) {
          const value = randomBytes(1024 + Math.floor(Math.random() * 1024));
          const r = await call(url, 'POST', value);
          if (r.status === 201) expected.set(key, value);
          else errors.push(`POST ${key}: ${r.status}`);
        } else {
          const r = await call(url, 'DELETE');
          if (r.status === 204) expected.set(key, undefined);
          else errors.push(`DELETE ${key}: ${r.status}`);
        }
      } catch (err) {
        errors.push(`${key}: ${(err as Error).message}`);
      } finally {
        busy.delete(key);
      }
      return true;
    };

    // The maximum: 32 concurrent loops for 5 s.
    let done = 0;
    const until = Date.now() + 5000;
    await Promise.all(Array.from({ length: 32 }, async () => {
      while (Date.now() < until) if (await one()) done++;
    }));
    const max = done / 5;
    const rate = Math.max(50, Math.round(max * 0.7));

    // The soak: open loop at `rate`, at most 256 requests in flight.
    const start = Date.now();
    let warmRss = { anon: 0, total: 0 };
    let inFlight = 0;
    let delayed = 0;
    const pending = new Set<Promise<void>>();
    for (let n = 0; ; n++) {
      const due = start + (n * 1000) / rate;
      if (due >= start + SECONDS * 1000) break;
      const wait = due - Date.now();
      if (wait > 0) await sleep(wait);
      if (warmRss.anon === 0 && Date.now() - start > SECONDS * 500) warmRss = rss(f.child.pid!);
      if (inFlight >= 256) {
        delayed++; // the schedule slipped: counted, not an error (no request failed)
        await Promise.race(pending);
      }
      inFlight++;
      const p: Promise<void> = one().then(() => undefined).finally(() => {
        inFlight--;
        pending.delete(p);
      });
      pending.add(p);
    }
    await Promise.all(pending);
    const endRss = rss(f.child.pid!);

    // Every acknowledged write, read back.
    let verified = 0;
    let lost = 0;
    for (const [key, want] of expected) {
      const r = await call(base + encodeURIComponent(key), 'GET');
      verified++;
      if (want === undefined ? r.status !== 404 : r.status !== 200 || !r.body.equals(want)) lost++;
    }
    const growth = (endRss.anon - warmRss.anon) / warmRss.anon;
    const mib = (n: number): string => (n / 2 ** 20).toFixed(0);
    t.diagnostic(
      `injected: ${SECONDS} s of mixed load at ${rate} req/s (70 % of a measured ${max.toFixed(0)} req/s); ` +
        `observed: ${requests} requests, ${errors.length} errors, ${delayed} sends waited for a free slot (256 in flight); verified ${verified} keys, ${lost} lost; ` +
        `anonymous RSS ${mib(warmRss.anon)} → ${mib(endRss.anon)} MiB (${(growth * 100).toFixed(1)} %), ` +
        `VmRSS with LMDB's mapped pages ${mib(warmRss.total)} → ${mib(endRss.total)} MiB`,
    );
    assert.deepEqual(errors.slice(0, 5), [], `${errors.length} errors`);
    assert.equal(lost, 0);
    assert.ok(growth < 0.1, `anonymous RSS grew ${(growth * 100).toFixed(1)} % after warm-up`);
    agent.destroy();
    f.child.kill('SIGTERM');
    assert.equal(await f.exited, 0);
  });
});
