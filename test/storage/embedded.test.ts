import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { open } from 'lmdb';
import { EmbeddedEngine } from '../../src/storage/embedded/lmdb-engine.js';
import { tempDir } from '../helpers/tmp.js';
import { storageConformance } from './conformance.js';

const modeOf = (path: string): number => statSync(path).mode & 0o777;

storageConformance('embedded (LMDB)', async () => new EmbeddedEngine({ path: tempDir() }));

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

  it('reports itself unavailable once closed', async () => {
    const engine = new EmbeddedEngine({ path: tempDir() });
    await engine.close();
    await assert.rejects(engine.probe(), { name: 'StorageUnavailableError' });
  });
});
