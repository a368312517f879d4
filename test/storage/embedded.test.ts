// test-tier: full (slow: 16 s alone on two cores; scripts/test-files.mjs)
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, ftruncateSync, mkdirSync, openSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { open } from 'lmdb';
import type { KeyValueStore } from '../../src/storage/engine.js';
import { isStorageError } from '../../src/storage/errors.js';

const isFull = (err: unknown): boolean => isStorageError(err, 'full');
import { EmbeddedEngine } from '../../src/storage/embedded/lmdb-engine.js';
import { defaultMaxSize } from '../../src/storage/embedded/space.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.js';
import { engineStoreConformance, storageConformance } from './conformance.js';

const MiB = 1024 * 1024;
const modeOf = (path: string): number => statSync(path).mode & 0o777;

/** Write `value` under new keys `<prefix><i>` until the store refuses one as full; returns the keys written. */
async function fill(store: KeyValueStore, prefix: string, value: Buffer, ttl: number): Promise<string[]> {
  const keys: string[] = [];
  for (let i = 0; i < 1000; i++) {
    try {
      await store.set(`${prefix}${i}`, value, ttl);
    } catch (err) {
      assert.ok(isFull(err), `refused as full, not ${String(err)}`);
      return keys;
    }
    keys.push(`${prefix}${i}`);
  }
  assert.fail('the store never became full');
}

storageConformance('embedded (LMDB)', async () => new EmbeddedEngine({ path: tempDir() }));
engineStoreConformance('embedded (LMDB)', async () => new EmbeddedEngine({ path: tempDir() }));

describe('embedded engine', () => {
  it('keeps values across close and reopen', async () => {
    const path = tempDir();
    const first = new EmbeddedEngine({ path });
    await first.store({ name: 'ns' }).set('k', Buffer.from('persisted'), 60);
    await first.close();
    const second = new EmbeddedEngine({ path });
    assert.equal((await second.store({ name: 'ns' }).get('k'))?.value.toString(), 'persisted');
    await second.close();
  });

  it('sweeps expired entries from disk and leaves live ones', async () => {
    const path = tempDir();
    const engine = new EmbeddedEngine({ path, sweepIntervalMs: 3_600_000, sweepBatch: 7 });
    const store = engine.store({ name: 'ns' });
    for (let i = 0; i < 30; i++) await store.set(`short-${i}`, Buffer.from('x'), 10);
    await store.set('long', Buffer.from('y'), 1000);
    await store.set('forever', Buffer.from('z'), 0);
    // Overwriting moves the expiry: the old index entry must not delete the new value.
    await store.set('moved', Buffer.from('old'), 10);
    await store.set('moved', Buffer.from('new'), 1000);

    assert.equal(await engine.sweep(Date.now()), 0, 'nothing has expired yet');
    const swept = await engine.sweep(Date.now() + 20_000);
    assert.equal(swept, 30, 'thirty expired entries, in batches of seven');
    assert.equal((await store.get('long'))?.value.toString(), 'y');
    assert.equal((await store.get('forever'))?.value.toString(), 'z');
    assert.equal((await store.get('moved'))?.value.toString(), 'new');
    await engine.close();

    // Look underneath: the expired records are gone from the file, not just hidden.
    const root = open({ path: join(path, 'firkin.mdb'), maxDbs: 256 });
    const values = root.openDB({ name: 'ns:ns' });
    const keys = Array.from(values.getKeys()).map(String).sort();
    assert.deepEqual(keys, ['forever', 'long', 'moved']);
    await root.close();
  });

  it('sweeps in the background on its own', async () => {
    const path = tempDir();
    const engine = new EmbeddedEngine({ path, sweepIntervalMs: 100 });
    const store = engine.store({ name: 'ns' });
    await store.set('short', Buffer.from('x'), 1);
    await store.set('long', Buffer.from('y'), 600);
    const root = open({ path: join(path, 'firkin.mdb'), maxDbs: 256 });
    const values = root.openDB({ name: 'ns:ns' });
    assert.deepEqual(Array.from(values.getKeys()).map(String).sort(), ['long', 'short']);
    const deadline = Date.now() + 5000;
    while (Array.from(values.getKeys()).length > 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(Array.from(values.getKeys()).map(String), ['long'], 'the expired record left the file');
    await root.close();
    await engine.close();
  });

  it('refuses a directory holding another data format', async () => {
    const path = tempDir();
    const root = open({ path: join(path, 'firkin.mdb'), maxDbs: 256 });
    root.openDB({ name: 'meta' }).putSync('format', 99);
    await root.close();
    assert.throws(() => new EmbeddedEngine({ path }), /data format 99/);
  });

  it('keeps its directory 0700 and its files 0600 whatever the umask', async () => {
    const path = join(tempDir(), 'store');
    const umask = process.umask(0);
    let engine: EmbeddedEngine;
    try {
      engine = new EmbeddedEngine({ path });
      await engine.store({ name: 'ns' }).set('k', Buffer.from('v'), 60);
    } finally {
      process.umask(umask);
    }
    assert.equal(modeOf(path), 0o700);
    assert.equal(modeOf(join(path, 'firkin.mdb')), 0o600);
    assert.equal(modeOf(join(path, 'firkin.mdb-lock')), 0o600);
    await engine.close();
  });

  it('tightens a directory and files made earlier with looser modes', async () => {
    const path = join(tempDir(), 'store');
    mkdirSync(path);
    chmodSync(path, 0o755);
    const first = new EmbeddedEngine({ path });
    assert.equal(modeOf(path), 0o700);
    await first.close();
    chmodSync(path, 0o755);
    for (const f of ['firkin.mdb', 'firkin.mdb-lock']) chmodSync(join(path, f), 0o644);
    const second = new EmbeddedEngine({ path });
    assert.equal(modeOf(path), 0o700);
    assert.equal(modeOf(join(path, 'firkin.mdb')), 0o600);
    assert.equal(modeOf(join(path, 'firkin.mdb-lock')), 0o600);
    await second.close();
  });

  it('refuses a shared directory (sticky bit, like /tmp) and leaves its mode alone', () => {
    const path = join(tempDir(), 'shared');
    mkdirSync(path);
    chmodSync(path, 0o1777);
    assert.throws(() => new EmbeddedEngine({ path }), /shared directory/);
    assert.equal(statSync(path).mode & 0o7777, 0o1777);
  });

  it('refuses writes at max_size; reads, deletes and expiry go on, and free writes again', async (t) => {
    const path = tempDir();
    const maxSize = 4 * MiB;
    const engine = new EmbeddedEngine({ path, maxSize, sweepIntervalMs: 200 });
    const store = engine.store({ name: 'ns' });
    const value = randomBytes(64 * 1024);

    // Full: 4 MiB hold about sixty 64 KiB values (each takes 17 pages of 4 KiB).
    const keys = await fill(store, 'a', value, 0);
    assert.ok(keys.length >= 50 && keys.length <= 64, `${keys.length} values fitted`);
    await assert.rejects(store.set('another', value, 0), isFull);
    assert.ok(engine.budget.estimate <= maxSize, 'the bound holds');
    // Reads and deletes go on; the refused keys were not stored.
    assert.ok((await store.get(keys[0]!))?.value.equals(value));
    assert.equal(await store.get('another'), undefined);
    const half = keys.filter((_, i) => i % 2 === 0);
    for (const k of half) await store.delete(k);
    assert.equal(await store.get(keys[0]!), undefined);
    // The space deleted is writable again at once.
    const refilled = await fill(store, 'b', value, 0);
    assert.ok(refilled.length >= half.length - 2, `${refilled.length} values refilled after deleting ${half.length}`);

    // Values with a TTL of 1 s: once they expire and the sweeper runs, writes go through again.
    for (const k of [...keys, ...refilled]) await store.delete(k);
    const short = await fill(store, 'c', value, 1);
    assert.ok(short.length >= 50, `${short.length} short-lived values fitted`);
    await assert.rejects(store.set('another', value, 0), isFull);
    await until(
      () => store.set('d', value, 0).then(() => true, (err: unknown) => (isFull(err) ? false : Promise.reject(err))),
      'a write to be accepted once the short-lived values expired and were swept',
      5000,
      100,
    );
    // Once every one of them is swept (and measured), their whole space is writable again.
    await until(() => engine.budget.estimate < maxSize / 8, 'the sweeper to delete every expired value', 5000);
    const after = await fill(store, 'e', value, 0);
    // LMDB keeps some freed pages in reserve (copy-on-write), so allow a tenth less.
    assert.ok(after.length + 1 >= Math.floor(short.length * 0.9), `${after.length + 1} values written after ${short.length} expired`);

    // The file is bigger than the pages in use: LMDB keeps freed pages for reuse.
    const ratio = statSync(join(path, 'firkin.mdb')).size / maxSize;
    t.diagnostic(`firkin.mdb is ${ratio.toFixed(2)} x max_size after filling, deleting and refilling`);
    assert.ok(ratio < 2, `file size ${ratio.toFixed(2)} x max_size`);
    await engine.close();
  });

  it('truncates a namespace and its expiry index together; the other namespace, its index and the sweep are untouched', async () => {
    const path = tempDir();
    const first = new EmbeddedEngine({ path, sweepIntervalMs: 3_600_000 });
    const [gone, kept] = [first.store({ name: 'gone' }), first.store({ name: 'kept' })];
    const value = randomBytes(2048);
    for (let i = 0; i < 20; i++) {
      await gone.set(`k${i}`, value, 10);
      await kept.set(`k${i}`, value, 10);
    }
    await gone.set('forever', value, 0);
    assert.deepEqual(first.entries(), new Map([['gone', 21], ['kept', 20]]));
    const used = first.usedBytes();
    await gone.truncate();
    assert.deepEqual(first.entries(), new Map([['gone', 0], ['kept', 20]]));
    assert.ok(first.usedBytes() < used - 20 * 2048, `pages in use ${used} -> ${first.usedBytes()}`);
    await first.close();

    // Underneath: the namespace and its expiry index are both empty, the other's both whole.
    const root = open({ path: join(path, 'firkin.mdb'), maxDbs: 256 });
    const count = (name: string): number => Array.from(root.openDB({ name }).getKeys()).length;
    assert.deepEqual([count('ns:gone'), count('exp:gone'), count('ns:kept'), count('exp:kept')], [0, 0, 20, 20]);
    await root.close();

    // The sweep reclaims the other namespace's expired values, and reports them.
    const reclaimed: [string, number][] = [];
    const second = new EmbeddedEngine({ path, sweepIntervalMs: 3_600_000, onReclaimed: (ns, n) => reclaimed.push([ns, n]) });
    second.store({ name: 'gone' });
    second.store({ name: 'kept' });
    assert.equal(await second.sweep(Date.now() + 20_000), 20);
    assert.deepEqual(reclaimed, [['kept', 20]]);
    await second.close();
  });

  it('reports itself unavailable once closed', async () => {
    const engine = new EmbeddedEngine({ path: tempDir() });
    await engine.close();
    await assert.rejects(engine.probe(), { name: 'StorageError', kind: 'unavailable' });
  });
});

describe('embedded.max_size default', () => {
  it('is the file plus half the free disk, 64 MiB to 4 GiB, and never under 1.25 × what the file holds', () => {
    const dir = tempDir();
    const file = join(dir, 'firkin.mdb');
    const fresh = defaultMaxSize(dir, file);
    assert.ok(fresh >= 64 * 2 ** 20 && fresh <= 4 * 2 ** 30, `${fresh}`);
    // A store grown to 5 GiB before the bound existed (a sparse file: no disk used).
    const fd = openSync(file, 'w');
    ftruncateSync(fd, 5 * 2 ** 30);
    closeSync(fd);
    assert.equal(defaultMaxSize(dir, file), Math.ceil(5 * 2 ** 30 * 1.25));
  });
});
