/**
 * The embedded engine's records carry a checksum (storage/embedded/record.ts), verified
 * on every read: bytes changed on disk are never served. A store written by an older
 * Firkin (format 1, no checksum) keeps every session, and is upgraded in the
 * background. A read-only engine opens a store another process is serving.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readdirSync, readFileSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { open } from 'lmdb';
import { EmbeddedEngine } from '../../src/storage/embedded/lmdb-engine.js';
import { check, checksum, seal } from '../../src/storage/embedded/record.js';
import { isStorageError } from '../../src/storage/errors.js';
import { atFileEnd, tempDir } from '../helpers/tmp.js';

type Seen = [string, string, string];

/** Flip one bit of the first occurrence of `marker` in the data file, in place (as a damaged disk would). */
function flipIn(file: string, marker: Buffer, at = Math.floor(marker.length / 2)): number {
  const offset = readFileSync(file).indexOf(marker);
  assert.ok(offset >= 0, 'the value is in the file');
  const fd = openSync(file, 'r+');
  try {
    const byte = Buffer.alloc(1);
    readSync(fd, byte, 0, 1, offset + at);
    byte[0] = byte[0]! ^ 0x10;
    writeSync(fd, byte, 0, 1, offset + at);
  } finally {
    closeSync(fd);
  }
  return offset + at;
}

describe('record checksums', () => {
  it('cover the key, the expiry, the version and every bit of the value', () => {
    const value = randomBytes(2048);
    const record = seal('enwiki:MWSession:abc', 1_700_000_000_000, 'v'.repeat(22), value);
    assert.ok('record' in check('enwiki:MWSession:abc', record, false));
    assert.deepEqual(check('enwiki:MWSession:abd', record, false), { damage: 'checksum' }, 'another key');
    assert.deepEqual(check('enwiki:MWSession:abc', [record[0] + 1, record[1], record[2], record[3]], false), { damage: 'checksum' }, 'another expiry');
    assert.deepEqual(check('enwiki:MWSession:abc', [record[0], 'w'.repeat(22), record[2], record[3]], false), { damage: 'checksum' }, 'another version');
    for (let bit = 0; bit < value.length * 8; bit += 97) {
      const flipped = Buffer.from(value);
      flipped[bit >> 3] = flipped[bit >> 3]! ^ (1 << (bit & 7));
      assert.deepEqual(check('enwiki:MWSession:abc', [record[0], record[1], flipped, record[3]], false), { damage: 'checksum' }, `bit ${bit}`);
    }
    assert.deepEqual(check('k', 'a string', false), { damage: 'shape' });
    assert.deepEqual(check('k', [1, 'v', value], false), { damage: 'shape' }, 'three elements once the store holds no format-1 record');
    const legacy = check('k', [1, 'v', value], true);
    assert.ok('record' in legacy && legacy.legacy && legacy.record[3] === checksum('k', 1, 'v', value), 'read unverified while the store may hold some');
  });

  it('cost about a microsecond per read of a 2 KiB value', (t) => {
    const value = randomBytes(2048);
    const record = seal('enwiki:MWSession:0123456789abcdef0123456789abcdef', Date.now(), 'v'.repeat(22), value);
    let best = Infinity;
    for (let round = 0; round < 5; round++) {
      const started = process.hrtime.bigint();
      for (let i = 0; i < 20_000; i++) check('enwiki:MWSession:0123456789abcdef0123456789abcdef', record, false);
      best = Math.min(best, Number(process.hrtime.bigint() - started) / 20_000);
    }
    t.diagnostic(`checking a 2 KiB record: ${(best / 1000).toFixed(2)} µs`);
    assert.ok(best < 20_000, `${best} ns`);
  });
});

describe('a record damaged on disk', () => {
  it('is never served: a read and a touch refuse it, a write replaces it, a delete removes it; each meeting is reported, never the key', async () => {
    const path = tempDir();
    const seen: Seen[] = [];
    const engine = new EmbeddedEngine({ path, sweepIntervalMs: 3_600_000, onDamaged: (...s) => seen.push(s) });
    const store = engine.store({ name: 'ns' });
    const file = join(path, 'firkin.mdb');
    const values = new Map<string, Buffer>();
    for (const key of ['read-me', 'replace-me', 'delete-me', 'intact']) {
      const value = Buffer.concat([Buffer.from(`${key}:`), randomBytes(2000)]);
      values.set(key, value);
      await store.set(key, value, 600);
    }
    for (const key of ['read-me', 'replace-me', 'delete-me']) flipIn(file, values.get(key)!);

    await assert.rejects(store.get('read-me'), (err) => isStorageError(err, 'corrupt'));
    await assert.rejects(store.touch('read-me', 60), (err) => isStorageError(err, 'corrupt'));
    assert.ok((await store.get('intact'))?.value.equals(values.get('intact')!), 'the others are served');
    assert.equal((await store.set('replace-me', Buffer.from('new'), 60)).applied, true);
    assert.equal((await store.get('replace-me'))?.value.toString(), 'new');
    await store.delete('delete-me');
    assert.equal(await store.get('delete-me'), undefined);
    assert.deepEqual(seen, [
      ['ns', 'get', 'checksum'],
      ['ns', 'touch', 'checksum'],
      ['ns', 'set', 'checksum'],
      ['ns', 'delete', 'checksum'],
    ]);
    assert.deepEqual(
      engine.verifyAll().map((r) => [r.namespace, r.records, r.damaged.checksum]),
      [['ns', 3, 1]],
      'a full check counts the one left',
    );
    await engine.close();
  });
});

describe('a store of format 1 (before checksums)', () => {
  /** A store as Firkin wrote it before the checksum: format 1, [expiresAt, version, value]. */
  async function formatOne(path: string, namespaces: Record<string, number>): Promise<Map<string, [number, string, Buffer]>> {
    const root = open({ path: join(path, 'firkin.mdb'), maxDbs: 256 });
    root.openDB({ name: 'meta' }).putSync('format', 1);
    const records = new Map<string, [number, string, Buffer]>();
    for (const [ns, count] of Object.entries(namespaces)) {
      const values = root.openDB({ name: `ns:${ns}` });
      const expiry = root.openDB({ name: `exp:${ns}` });
      for (let i = 0; i < count; i++) {
        const record: [number, string, Buffer] = [i % 2 === 0 ? 0 : Date.now() + 600_000, randomBytes(16).toString('base64url'), randomBytes(100 + i)];
        values.putSync(`k${i}`, record);
        if (record[0] !== 0) expiry.putSync([record[0], `k${i}`], 1);
        records.set(`${ns}/k${i}`, record);
      }
    }
    await root.close();
    return records;
  }

  it('keeps every session, versions included, and is upgraded: format 2 at once, every record checksummed in the background', async () => {
    const path = tempDir();
    const records = await formatOne(path, { sessions: 1234, gone: 7 });
    const engine = new EmbeddedEngine({ path, sweepIntervalMs: 3_600_000, sweepBatch: 100 });
    assert.equal(engine.format, 2);
    assert.equal(engine.legacy, true);
    const store = engine.store({ name: 'sessions' });
    for (const i of [0, 1, 500, 1233]) {
      const [, version, value] = records.get(`sessions/k${i}`)!;
      const got = await store.get(`k${i}`);
      assert.equal(got?.version, version, 'the ETag a client holds still matches');
      assert.ok(got?.value.equals(value));
    }
    // An older Firkin now refuses the store instead of taking the new records for damage.
    const raw = open({ path: join(path, 'firkin.mdb'), maxDbs: 256, readOnly: true });
    assert.equal(raw.openDB({ name: 'meta' }).get('format'), 2);
    await raw.close();

    assert.equal(await engine.upgrade(), 1241, 'every record of every namespace in the file, configured or not');
    assert.equal(engine.legacy, false);
    for (const [id, [, version, value]] of records) {
      const [ns, key] = id.split('/') as [string, string];
      const got = await engine.store({ name: ns }).get(key);
      assert.equal(got?.version, version, id);
      assert.ok(got?.value.equals(value), id);
    }
    await engine.close();

    // Reopened: nothing left to upgrade, and a three-element record is now damage.
    const again = new EmbeddedEngine({ path, sweepIntervalMs: 3_600_000 });
    assert.equal(again.legacy, false);
    const write = open({ path: join(path, 'firkin.mdb'), maxDbs: 256 });
    write.openDB({ name: 'ns:sessions' }).putSync('late', [0, 'v', Buffer.from('x')]);
    await write.close();
    await assert.rejects(again.store({ name: 'sessions' }).get('late'), (err) => isStorageError(err, 'corrupt'));
    await again.close();
  });

  it('goes on upgrading where it stopped, in the next process', async () => {
    const path = tempDir();
    await formatOne(path, { sessions: 300 });
    const first = new EmbeddedEngine({ path, sweepIntervalMs: 3_600_000, sweepBatch: 50 });
    first.store({ name: 'sessions' });
    await first.close(); // before any upgrade
    const second = new EmbeddedEngine({ path, sweepIntervalMs: 50, sweepBatch: 50 });
    const store = second.store({ name: 'sessions' });
    const deadline = Date.now() + 5000;
    while (second.legacy && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal(second.legacy, false, 'the sweeper tick upgraded it');
    const [report] = second.verifyAll();
    assert.deepEqual([report!.records, report!.legacy, report!.damaged], [300, 0, { undecodable: 0, shape: 0, checksum: 0 }], 'every record checksummed');
    assert.ok((await store.get('k1')) !== undefined);
    await second.close();
  });
});

describe('a read-only engine', () => {
  it('reads a store another process is serving, changes nothing and refuses writes', async () => {
    const path = tempDir();
    // The server: a read-write engine in another process, writing until told to stop.
    const engineModule = fileURLToPath(new URL('../../src/storage/embedded/lmdb-engine.js', import.meta.url));
    const script = `
      import { EmbeddedEngine } from ${JSON.stringify(engineModule)};
      const engine = new EmbeddedEngine({ path: ${JSON.stringify(path)} });
      const store = engine.store({ name: 'sessions' });
      await store.set('fixed', Buffer.from('a stored session'), 600);
      console.log('ready');
      for (let i = 0; ; i++) await store.set('k' + (i % 100), Buffer.alloc(500, i % 256), 600);`;
    const server = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    atFileEnd(() => server.kill('SIGKILL'));
    await new Promise<void>((resolve, reject) => {
      server.stdout.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
      server.on('exit', (code) => reject(new Error(`the server exited ${code}`)));
    });
    const before = readdirSync(path).sort();
    const reader = new EmbeddedEngine({ path, readOnly: true });
    const store = reader.store({ name: 'sessions' });
    assert.equal((await store.get('fixed'))?.value.toString(), 'a stored session');
    await assert.rejects(store.set('x', Buffer.from('y'), 60), (err) => isStorageError(err, 'permanent'));
    await assert.rejects(store.delete('fixed'), (err) => isStorageError(err, 'permanent'));
    assert.equal(await reader.store({ name: 'absent' }).get('x'), undefined, 'a namespace the file lacks is empty');
    const check = reader.verifyAll();
    assert.equal(check.length, 1);
    assert.equal(check[0]!.damaged.checksum + check[0]!.damaged.shape + check[0]!.damaged.undecodable, 0);
    await reader.close();
    assert.deepEqual(readdirSync(path).sort(), before, 'no file added');
    server.kill('SIGKILL');
    assert.throws(() => new EmbeddedEngine({ path: tempDir(), readOnly: true }), /no embedded store/);
  });
});
