/**
 * Someone with write access to the store tampers with sealed records, through the
 * engine itself (so that every record is well-formed where the engine looks), while
 * the service is stopped: a flipped bit, a value cut short, two sessions' records
 * swapped, a record copied to another key and to another namespace, and a record
 * sealed under a key since removed from the keyring put back. None is ever served:
 * each answers as a missing session (404), is counted, and is logged without its key.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { freshSeal, NamespaceKey } from '../../src/seal/sealing.js';
import { EmbeddedEngine } from '../../src/storage/embedded/lmdb-engine.js';
import { request } from '../helpers/http.js';
import { spawnFirkin, type FirkinProcess } from '../helpers/process.js';
import { scrape } from '../helpers/prometheus.js';
import { tempDir } from '../helpers/tmp.js';

describe('tampered sealed records', () => {
  it('are never served: 404, counted, logged without the key', { timeout: 120_000 }, async () => {
    const dir = tempDir();
    const secrets = { k0: randomBytes(32), k1: randomBytes(32) };
    for (const [id, secret] of Object.entries(secrets)) writeFileSync(join(dir, id), secret, { mode: 0o600 });
    const config = (active: string, ids: string[]): Record<string, unknown> => ({
      embedded: { path: 'data' },
      workers: 1,
      keyring: { active, keys: ids.map((id) => ({ id, file: join(dir, id) })) },
      namespaces: [
        { name: 'a', base_uri: '/a/v1/', sealed: true },
        { name: 'b', base_uri: '/b/v1/', sealed: true },
      ],
    });
    const session = (n: number): string => `enwiki:MWSession:tamper-${n}-${randomBytes(8).toString('hex')}`;
    const keys = Array.from({ length: 8 }, (_, i) => session(i));
    const url = (f: FirkinProcess, ns: string, key: string): string => `${f.url}/${ns}/v1/${encodeURIComponent(key)}`;
    const stop = async (f: FirkinProcess): Promise<void> => {
      f.child.kill('SIGTERM');
      assert.equal(await f.exited, 0);
    };

    // Under k0 first: the record to replay once k0 has left the keyring.
    let f = await spawnFirkin(dir, config('k0', ['k0']));
    const replayed = keys[7]!;
    assert.equal((await request(url(f, 'a', replayed), { method: 'PUT', body: 'an old session' })).status, 201);
    await stop(f);
    // Then under k1, every session.
    f = await spawnFirkin(dir, config('k1', ['k0', 'k1']));
    for (const [i, key] of keys.entries()) assert.equal((await request(url(f, 'a', key), { method: 'PUT', body: `session ${i}` })).status, 201);
    await stop(f);

    // The thief with write access, through the engine.
    const k0 = new NamespaceKey('k0', secrets.k0, 'a');
    const a = new NamespaceKey('k1', secrets.k1, 'a');
    const b = new NamespaceKey('k1', secrets.k1, 'b');
    const engine = new EmbeddedEngine({ path: join(dir, 'data') });
    const storeA = engine.store({ name: 'a' });
    const storeB = engine.store({ name: 'b' });
    const record = async (key: string): Promise<Buffer> => (await storeA.get(a.storageKey(key)))!.value;
    const put = (store: typeof storeA, storageKey: string, bytes: Buffer): Promise<unknown> => store.set(storageKey, bytes, 3600);
    const flipped = Buffer.from(await record(keys[0]!));
    flipped[flipped.length - 20]! ^= 0x01;
    await put(storeA, a.storageKey(keys[0]!), flipped); // a flipped bit
    const cut = await record(keys[1]!);
    await put(storeA, a.storageKey(keys[1]!), cut.subarray(0, cut.length - 5)); // cut short
    const [r2, r3] = [await record(keys[2]!), await record(keys[3]!)];
    await put(storeA, a.storageKey(keys[2]!), r3); // swapped
    await put(storeA, a.storageKey(keys[3]!), r2);
    await put(storeA, a.storageKey('enwiki:MWSession:copied-here'), await record(keys[4]!)); // copied to another key
    await put(storeB, b.storageKey(keys[5]!), await record(keys[5]!)); // copied to another namespace, same key
    const old = (await storeA.get(k0.storageKey(replayed)))?.value;
    assert.equal(old, undefined, 'the old copy was removed when the session was written again');
    await engine.close();
    // (The old k0 record was read before it was removed: it is sealed with k0 for its k0 storage key.)
    // Replay: put a record sealed under k0 back, once k0 left the keyring.
    const oldRecord = k0.seal(Buffer.from('an old session'), k0.storageKey(replayed), freshSeal(3600));
    const engine2 = new EmbeddedEngine({ path: join(dir, 'data') });
    await engine2.store({ name: 'a' }).set(a.storageKey(replayed), oldRecord, 3600); // under the active key's storage key
    await engine2.store({ name: 'a' }).set(k0.storageKey(replayed), oldRecord, 3600); // and under its own
    await engine2.close();

    f = await spawnFirkin(dir, config('k1', ['k1']));
    const status = async (ns: string, key: string): Promise<number> => (await request(url(f, ns, key))).status;
    assert.equal(await status('a', keys[0]!), 404, 'a flipped bit');
    assert.equal(await status('a', keys[1]!), 404, 'a record cut short');
    assert.equal(await status('a', keys[2]!), 404, 'swapped (1)');
    assert.equal(await status('a', keys[3]!), 404, 'swapped (2)');
    assert.equal(await status('a', 'enwiki:MWSession:copied-here'), 404, 'copied to another key');
    assert.equal((await request(url(f, 'a', keys[4]!))).body.toString(), 'session 4', 'the original still reads');
    assert.equal(await status('b', keys[5]!), 404, 'copied to another namespace');
    assert.equal(await status('a', replayed), 404, 'sealed under a removed key');
    assert.equal((await request(url(f, 'a', keys[6]!))).body.toString(), 'session 6', 'an untouched session reads');
    assert.equal((await request(url(f, 'a', keys[0]!), { method: 'PATCH' })).status, 404, 'a touch does not revive it either');

    const m = await scrape(f.url);
    const failures = (reason: string, ns = 'a'): number => m.value('firkin_sealed_open_failures_total', { namespace: ns, reason });
    assert.equal(failures('authentication'), 6, 'flipped, cut, swapped twice, copied, touched');
    assert.equal(failures('authentication', 'b'), 1);
    assert.equal(failures('unknown-key'), 1, 'the replay');
    const lines = f.stdout.filter((l) => l.includes('a sealed record did not open'));
    assert.ok(lines.length >= 3, `logged: ${lines.length}`);
    for (const l of lines) for (const key of keys) assert.ok(!l.includes(key) && !l.includes(encodeURIComponent(key)));
    await stop(f);
  });
});
