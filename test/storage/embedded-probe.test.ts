/**
 * The embedded store's start-up probe (storage/embedded/probe.ts), its instance lock
 * (instance-lock.ts) and `firkin store check` / `store reset`: a damaged, truncated,
 * empty or foreign file is refused with its reason, LMDB crashing on a page kills the
 * probe's child and not the caller, one process holds a directory at a time, and a
 * reset moves the file aside, never deletes it.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { LMDB_LAYOUT, lmdbMeta } from '../../src/base/internals.js';
import { lockStore, StoreInUse } from '../../src/storage/embedded/instance-lock.js';
import { EmbeddedEngine } from '../../src/storage/embedded/lmdb-engine.js';
import { checkDataFile, probeStore, StoreRefused } from '../../src/storage/embedded/probe.js';
import { fileTime, setAside } from '../../src/storage/embedded/recovery.js';
import { runFirkin } from '../helpers/process.js';
import { atFileEnd, tempDir } from '../helpers/tmp.js';

/** A small healthy store (format 2, two namespaces), closed; returns its directory. */
async function healthyStore(): Promise<string> {
  const dir = tempDir();
  const engine = new EmbeddedEngine({ path: dir, sweepIntervalMs: 3_600_000 });
  for (const ns of ['a', 'b']) {
    const store = engine.store({ name: ns });
    for (let i = 0; i < 40; i++) await store.set(`key-${i}`, Buffer.alloc(1500, i), 600);
  }
  await engine.close();
  return dir;
}

const dataFile = (dir: string): string => join(dir, 'firkin.mdb');

/** A copy of `dir`'s data file in a new directory, changed by `damage`. */
function damaged(dir: string, damage: (file: string) => void): string {
  const copy = tempDir();
  copyFileSync(dataFile(dir), dataFile(copy));
  damage(dataFile(copy));
  return copy;
}

/** Overwrite `bytes` at `offset` in place. */
function patch(file: string, offset: number, bytes: Buffer): void {
  const data = readFileSync(file);
  bytes.copy(data, offset);
  writeFileSync(file, data);
}

/** The meta pages of a data file, and the newest. */
function metas(file: string): { pageSize: number; newest: ReturnType<typeof lmdbMeta>; newestPage: number } {
  const data = readFileSync(file);
  const first = lmdbMeta(data.subarray(0, LMDB_LAYOUT.metaBytes));
  const second = lmdbMeta(data.subarray(first.pageSize, first.pageSize + LMDB_LAYOUT.metaBytes));
  const newestPage = second.txnid > first.txnid ? 1 : 0;
  return { pageSize: first.pageSize, newest: newestPage === 1 ? second : first, newestPage };
}

const refusedFor = (pattern: RegExp) => (err: unknown): boolean => {
  assert.ok(err instanceof StoreRefused, String(err));
  assert.match(err.reason, pattern);
  return true;
};

describe('the start-up probe', async () => {
  const healthy = await healthyStore();

  it('passes a healthy store, and a directory with no store yet (a new one)', async () => {
    const facts = checkDataFile(dataFile(healthy));
    assert.ok(facts && facts.pageSize >= 512 && facts.pages * facts.pageSize === facts.bytes);
    const report = await probeStore(healthy);
    assert.equal(report.fresh, false);
    assert.equal(report.format, 2);
    assert.deepEqual(report.namespaces, ['a', 'b']);
    const fresh = await probeStore(tempDir());
    assert.equal(fresh.fresh, true);
  });

  it('refuses a 0-byte file (and leaves it as it is: LMDB would take it for a new store)', async () => {
    const dir = damaged(healthy, (f) => truncateSync(f, 0));
    await assert.rejects(probeStore(dir), refusedFor(/empty \(0 bytes\)/));
    assert.equal(readFileSync(dataFile(dir)).length, 0);
  });

  it('refuses a truncated file: too short for its meta pages, or for the pages its last transaction uses', async () => {
    const { pageSize } = metas(dataFile(healthy));
    await assert.rejects(probeStore(damaged(healthy, (f) => truncateSync(f, 100))), refusedFor(/too short/));
    await assert.rejects(probeStore(damaged(healthy, (f) => truncateSync(f, pageSize + 10))), refusedFor(/truncated/));
    await assert.rejects(probeStore(damaged(healthy, (f) => truncateSync(f, 4 * pageSize))), refusedFor(/truncated: .* uses \d+ pages/));
  });

  it('refuses a foreign file: random bytes, text, an SQLite database', async () => {
    for (const content of [Buffer.alloc(65536, 0x5a), Buffer.from('hello\n'.repeat(10000)), Buffer.concat([Buffer.from('SQLite format 3\0'), Buffer.alloc(8192)])]) {
      const dir = tempDir();
      writeFileSync(dataFile(dir), content);
      await assert.rejects(probeStore(dir), refusedFor(/not an LMDB data file/));
    }
  });

  it('refuses damage to either meta page: magic, page size, a root outside the file', async () => {
    const file = dataFile(healthy);
    const { pageSize, newest, newestPage } = metas(file);
    await assert.rejects(probeStore(damaged(healthy, (f) => patch(f, 24, Buffer.from('garbage!')))), refusedFor(/not an LMDB data file/));
    await assert.rejects(probeStore(damaged(healthy, (f) => patch(f, pageSize + 24, Buffer.from('garbage!')))), refusedFor(/meta page 1 is damaged: its magic/));
    const size = Buffer.alloc(4);
    size.writeUInt32LE(12345);
    await assert.rejects(probeStore(damaged(healthy, (f) => patch(f, pageSize + 48, size))), refusedFor(/meta page 1 is damaged: it says page size 12345/));
    // The newest snapshot's main tree rooted past its last page: LMDB would read outside the file.
    const root = Buffer.alloc(8);
    root.writeBigUInt64LE(newest.lastPage + 1000n);
    await assert.rejects(
      probeStore(damaged(healthy, (f) => patch(f, newestPage * pageSize + 136, root))),
      refusedFor(new RegExp(`meta page ${newestPage} is damaged: the root of its main tree is page`)),
    );
  });

  it('survives LMDB crashing on a damaged page: the child dies of the signal, the probe says so', async (t) => {
    // A small store (20 pages): the header of the main tree's root page, all ones, makes LMDB
    // read its node offsets up to 64 KiB past the page, past the end of the file: SIGBUS.
    const small = tempDir();
    const engine = new EmbeddedEngine({ path: small, sweepIntervalMs: 3_600_000 });
    for (let i = 0; i < 5; i++) await engine.store({ name: 'default' }).set(`key${i}`, Buffer.alloc(2048, 65 + i), 600);
    await engine.close();
    const { pageSize, newest } = metas(dataFile(small));
    const dir = damaged(small, (f) => patch(f, Number(newest.mainRoot) * pageSize, Buffer.alloc(24, 0xff)));
    assert.ok(checkDataFile(dataFile(dir)), 'the meta pages are intact: only LMDB itself can find this');
    const started = performance.now();
    await assert.rejects(probeStore(dir), refusedFor(/LMDB crashed reading it \(SIG(BUS|SEGV)\)/));
    t.diagnostic(`a crashing probe: ${(performance.now() - started).toFixed(0)} ms`);
  });

  it('refuses a store of another format, and an LMDB file Firkin did not write', async () => {
    const dir = tempDir();
    const { open } = await import('lmdb');
    const other = open({ path: dataFile(dir), maxDbs: 4 });
    other.openDB({ name: 'ns:x' }).putSync('k', 'v');
    await other.close();
    await assert.rejects(probeStore(dir), refusedFor(/no format marker/));
    const newer = tempDir();
    const root = open({ path: dataFile(newer), maxDbs: 4 });
    root.openDB({ name: 'meta' }).putSync('format', 3);
    await root.close();
    await assert.rejects(probeStore(newer), refusedFor(/data format 3/));
  });

  it('costs a child process: about 100–200 ms at start-up', async (t) => {
    const times: number[] = [];
    for (let i = 0; i < 3; i++) times.push((await probeStore(healthy)).ms);
    t.diagnostic(`probe of a healthy store: ${times.map((ms) => ms.toFixed(0)).join(', ')} ms`);
    assert.ok(Math.min(...times) < 5000);
  });
});

describe('the instance lock', () => {
  it('lets one process hold a directory; another is refused naming the holder; a killed holder frees it', async () => {
    const dir = join(tempDir(), 'store');
    const module = fileURLToPath(new URL('../../src/storage/embedded/instance-lock.js', import.meta.url));
    const holder = spawn(process.execPath, ['--input-type=module', '-e', `import { lockStore } from ${JSON.stringify(module)}; lockStore(${JSON.stringify(dir)}); console.log('held'); setInterval(() => {}, 1000);`], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    atFileEnd(() => holder.kill('SIGKILL'));
    await new Promise((resolve) => holder.stdout.once('data', resolve));
    assert.throws(
      () => lockStore(dir),
      (err: unknown) => err instanceof StoreInUse && err.holder === holder.pid && err.message.includes(dir) && err.message.includes(`pid ${holder.pid}`),
    );
    holder.kill('SIGKILL');
    await new Promise((resolve) => holder.once('exit', resolve));
    const lock = lockStore(dir);
    lock.release();
    assert.deepEqual(readdirSync(dir), ['firkin.lock']);
  });
});

describe('store reset and store check', () => {
  it('name the file set aside by its UTC time, and never overwrite one', () => {
    const dir = tempDir();
    const when = new Date('2026-12-04T12:45:07.123Z');
    assert.equal(fileTime(when), '20261204T124507Z');
    writeFileSync(dataFile(dir), 'first');
    assert.equal(setAside(dir, 'damaged', when)?.to, join(dir, 'firkin.mdb.damaged-20261204T124507Z'));
    writeFileSync(dataFile(dir), 'second');
    assert.equal(setAside(dir, 'damaged', when)?.to, join(dir, 'firkin.mdb.damaged-20261204T124507Z-2'));
    assert.equal(setAside(dir, 'damaged', when), undefined, 'nothing left to move');
    assert.equal(readFileSync(join(dir, 'firkin.mdb.damaged-20261204T124507Z'), 'utf8'), 'first');
  });

  it('firkin store check: 0 for a sound store, 3 and the count for damaged records or a damaged file', async () => {
    const dir = await healthyStore();
    const config = join(tempDir(), 'config.yaml');
    writeFileSync(config, `embedded: {path: ${dir}}\n`);
    const sound = runFirkin('store', 'check', '--config', config);
    assert.equal(sound.code, 0, sound.stderr);
    assert.match(sound.stdout, /namespace a: 40 records, 0 damaged/);
    // Flip a byte of one value in place.
    const data = readFileSync(dataFile(dir));
    const at = data.indexOf(Buffer.alloc(1500, 7));
    data[at + 700] = data[at + 700]! ^ 0x01;
    writeFileSync(dataFile(dir), data);
    const bad = runFirkin('store', 'check', '--config', config);
    assert.equal(bad.code, 3, bad.stderr);
    assert.match(bad.stdout, /1 damaged \(1 fail their checksum/);
    assert.match(bad.stdout, /^DAMAGED: 1 record/m);
    truncateSync(dataFile(dir), 0);
    const empty = runFirkin('store', 'check', '--config', config);
    assert.equal(empty.code, 3);
    assert.match(empty.stdout, /^DAMAGED: .*firkin\.mdb cannot be used: it is empty/);
  });

  it('firkin store reset: moves a damaged store aside; refuses a sound one without --force', async () => {
    const dir = await healthyStore();
    const config = join(tempDir(), 'config.yaml');
    writeFileSync(config, `embedded: {path: ${dir}}\n`);
    const refused = runFirkin('store', 'reset', '--config', config);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /not damaged .* nothing moved\. To discard every session in it anyway, add --force/);
    assert.ok(existsSync(dataFile(dir)));
    const forced = runFirkin('store', 'reset', '--config', config, '--force');
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(forced.stdout, /to .*firkin\.mdb\.reset-\d{8}T\d{6}Z: the next start begins with an empty store/);
    assert.ok(!existsSync(dataFile(dir)));

    mkdirSync(join(dir, 'x'));
    writeFileSync(dataFile(dir), 'not a store');
    const reset = runFirkin('store', 'reset', '--config', config);
    assert.equal(reset.code, 0, reset.stderr);
    const moved = readdirSync(dir).find((f) => f.startsWith('firkin.mdb.damaged-'));
    assert.ok(moved, readdirSync(dir).join(', '));
    assert.equal(readFileSync(join(dir, moved), 'utf8'), 'not a store', 'moved, not deleted');
  });
});
