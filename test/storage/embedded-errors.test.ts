/**
 * What an LMDB failure means (storage/embedded/errors.ts), and a damaged record over
 * HTTP: 500 and one clear log line, never the damaged value, never a 503 that invites
 * endless retries.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { open } from 'lmdb';
import { lmdbError } from '../../src/storage/embedded/errors.js';
import { StorageError } from '../../src/storage/errors.js';
import { request } from '../helpers/http.js';
import { scrape } from '../helpers/prometheus.js';
import { startTestService } from '../helpers/service.js';
import { tempDir } from '../helpers/tmp.js';

const coded = (code: number, message = 'x'): Error => Object.assign(new Error(message), { code });

describe('LMDB failures', () => {
  it('are classified by their code', () => {
    assert.equal(lmdbError(coded(-30796, 'MDB_CORRUPTED'), 'read').kind, 'corrupt');
    assert.equal(lmdbError(coded(-30797, 'MDB_PAGE_NOTFOUND'), 'read').kind, 'corrupt');
    assert.equal(lmdbError(coded(-30793, 'MDB_INVALID'), 'read').kind, 'corrupt');
    for (const code of [13, 1, 30]) {
      const err = lmdbError(coded(code), 'write');
      assert.equal(err.kind, 'permanent', `errno ${code}`);
      assert.equal(err.category, 'permission');
    }
    // A full disk is reported as EIO by LMDB, and as "Commit failed" (cause on commitError) by lmdb-js: for now.
    assert.equal(lmdbError(coded(5, 'Input/output error'), 'write').kind, 'unavailable');
    assert.equal(lmdbError(new Error('Commit failed (see commitError for details)'), 'write').kind, 'unavailable');
    assert.equal(lmdbError(coded(28), 'write').kind, 'unavailable');
  });

  it('take a read error without an LMDB code for a record that does not decode', () => {
    assert.equal(lmdbError(new RangeError('Unexpected end of MessagePack data'), 'read', { decoding: true }).kind, 'corrupt');
    assert.equal(lmdbError(new RangeError('x'), 'write').kind, 'unavailable');
  });

  it('keep a StorageError as it is', () => {
    const err = new StorageError('full', 'full');
    assert.equal(lmdbError(err, 'write'), err);
  });

  it('serve no damaged record: 500, one error line naming no key, counted as corrupt', async () => {
    const path = tempDir();
    const t = await startTestService({ embedded: { path } });
    const key = 'enwiki:MWSession:damaged-0123456789abcdef';
    assert.equal((await request(t.base + encodeURIComponent(key), { method: 'PUT', body: 'a session' })).status, 201);
    // Damage the record in place: the same LMDB environment, a value of another shape.
    const db = open({ path: join(path, 'firkin.mdb') }).openDB({ name: 'ns:default' });
    await db.put(key, 'not a record of firkin');
    for (let i = 0; i < 3; i++) {
      const got = await request(t.base + encodeURIComponent(key));
      assert.equal(got.status, 500, 'permanent: never 503');
      assert.equal(got.headers['retry-after'], undefined);
      assert.equal(got.json().type, 'https://www.mediawiki.org/wiki/Kask/errors/server_error');
      assert.ok(!got.body.toString().includes('not a record'), 'the damaged value is not served');
    }
    const lines = t.logs.map((l) => JSON.parse(l) as { level: string; msg: string; cause?: string });
    const damaged = lines.filter((l) => l.msg.startsWith('stored data is damaged'));
    assert.equal(damaged.length, 1, 'one line for the three requests');
    assert.equal(damaged[0]!.level, 'ERROR');
    assert.equal(damaged[0]!.cause, 'corrupt');
    assert.ok(!t.logs.some((l) => l.includes(key) || l.includes('damaged-0123456789abcdef')), 'the key is never logged');
    const m = await scrape(t.url);
    assert.equal(m.value('firkin_storage_operations_total', { namespace: 'default', engine: 'embedded', operation: 'get', result: 'corrupt' }), 3);
    // Other keys are served as ever, a touch refuses it too, and a new write replaces the damaged record.
    assert.equal((await request(t.base + 'other', { method: 'PUT', body: 'x' })).status, 201);
    assert.equal((await request(t.base + encodeURIComponent(key), { method: 'PATCH' })).status, 500);
    assert.equal((await request(t.base + encodeURIComponent(key), { method: 'PUT', body: 'a new session' })).status, 201);
    assert.equal((await request(t.base + encodeURIComponent(key))).body.toString(), 'a new session');
  });

  it('refuse a record whose bytes do not decode on every path but the ones that replace or remove it', async () => {
    const path = tempDir();
    const t = await startTestService({ embedded: { path } });
    const keys = ['undecodable-a', 'undecodable-b', 'undecodable-c'];
    for (const k of keys) assert.equal((await request(t.base + k, { method: 'PUT', body: 'a session', headers: { 'Cache-Control': 'max-age=1' } })).status, 201);
    // Bytes msgpackr cannot decode (a 3-element array announced, one element given).
    const raw = open({ path: join(path, 'firkin.mdb') }).openDB({ name: 'ns:default', encoding: 'binary' });
    for (const k of keys) await raw.put(k, Buffer.from([0x93, 0x01]));
    assert.equal((await request(t.base + keys[0])).status, 500, 'GET');
    assert.equal((await request(t.base + keys[0], { method: 'PATCH' })).status, 500, 'PATCH');
    assert.equal((await request(t.base + keys[0], { method: 'PUT', body: 'x', headers: { 'If-Match': '"v"' } })).status, 412, 'a condition on it fails');
    assert.equal((await request(t.base + keys[0], { method: 'DELETE' })).status, 204, 'DELETE removes it');
    assert.equal((await request(t.base + keys[0])).status, 404);
    assert.equal((await request(t.base + keys[1], { method: 'PUT', body: 'replaced' })).status, 201, 'PUT replaces it');
    assert.equal((await request(t.base + keys[1])).body.toString(), 'replaced');
    assert.ok(!t.logs.some((l) => l.includes('"storage unavailable"')), 'never taken for an outage (503)');
    // The sweeper meets the third, left damaged, once its index entry is due: it carries on, and leaves the record refused.
    await new Promise((r) => setTimeout(r, 2500));
    assert.ok(!t.logs.some((l) => l.includes('expiry sweep failed')), 'the sweeper carries on');
    assert.equal((await request(t.base + keys[2])).status, 500);
  });
});
