/**
 * `firkin export` / `firkin import` of sealed namespaces (embedded, real processes): nothing
 * of a sealed namespace leaves without `--sealed-as-stored`, and with it nothing leaves in
 * clear (no client key, no value in the stream); the records move as stored to a store
 * with the same keyring keys, which serves them; a store with other keys, or a plain
 * namespace, refuses them before writing anything.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { request } from './helpers/http.js';
import { spawnFirkin, type FirkinProcess } from './helpers/process.js';
import { tempDir } from './helpers/tmp.js';
import { exportTo, firkinAsync, streamRecords } from './helpers/transfer.js';

function keyFile(dir: string, bytes = randomBytes(32)): string {
  const file = join(dir, 'k1');
  writeFileSync(file, bytes, { mode: 0o600 });
  return file;
}

interface Server {
  readonly config: string;
  readonly process: FirkinProcess;
  at(ns: string, key: string): string;
}

async function server(key: string, vault: boolean | 'migrate' = true, dir = tempDir()): Promise<Server> {
  const config = {
    embedded: { path: join(dir, 'data') },
    workers: 1,
    keyring: { active: 'k1', keys: [{ id: 'k1', file: key }] },
    namespaces: [
      { name: 'sessions', base_uri: '/sessions/v1/', default_ttl: 3600 },
      { name: 'vault', base_uri: '/vault/v1/', default_ttl: 3600, sealed: vault },
    ],
  };
  const process = await spawnFirkin(dir, config);
  return { config: join(dir, 'config.yaml'), process, at: (ns, k) => `${process.url}/${ns}/v1/${encodeURIComponent(k)}` };
}

describe('firkin export | firkin import of sealed namespaces', () => {
  it('refuses a sealed namespace without --sealed-as-stored; with it, moves records as stored between stores sharing the keyring, and nowhere else', { timeout: 90_000 }, async () => {
    const keyBytes = randomBytes(32);
    const a = await server(keyFile(tempDir(), keyBytes));
    const marker = randomBytes(8).toString('hex');
    const vault = Array.from({ length: 20 }, (_, i) => ({ key: `enwiki:MWSession:sealed-${marker}-${i}`, value: `secret value ${marker} ${i}` }));
    const plain = Array.from({ length: 5 }, (_, i) => ({ key: `enwiki:MWSession:plain-${i}-${randomBytes(4).toString('hex')}`, value: `plain value ${i}` }));
    for (const s of vault) assert.equal((await request(a.at('vault', s.key), { method: 'PUT', body: s.value, headers: { 'cache-control': 'max-age=1200' } })).status, 201);
    for (const s of plain) assert.equal((await request(a.at('sessions', s.key), { method: 'PUT', body: s.value })).status, 201);
    const dir = tempDir();

    // Without the flag: refused, one line, nothing on stdout.
    const refusedFile = join(dir, 'refused.ndjson');
    const refused = await exportTo(a.config, refusedFile);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /^firkin: export refused: namespace vault is sealed\. Nothing of a sealed namespace leaves in clear .* Give --sealed-as-stored to export them so, or leave them out with --namespace\n$/);
    assert.equal(readFileSync(refusedFile).length, 0, 'nothing written');
    const vaultOnly = await exportTo(a.config, refusedFile, '--namespace', 'vault');
    assert.equal(vaultOnly.code, 2);
    // The plain namespace alone needs no flag.
    const plainFile = join(dir, 'plain.ndjson');
    assert.equal((await exportTo(a.config, plainFile, '--namespace', 'sessions')).code, 0);
    assert.equal(streamRecords(plainFile).length, plain.length);

    // With it: the records as stored, nothing in clear.
    const stream = join(dir, 'stream.ndjson');
    const exported = await exportTo(a.config, stream, '--sealed-as-stored');
    assert.equal(exported.code, 0, exported.stderr);
    const text = readFileSync(stream, 'utf8');
    assert.match(text.split('\n')[0]!, /"namespaces":\[\{"name":"sessions","sealed":false\},\{"name":"vault","sealed":true\}\]/);
    const records = streamRecords(stream).filter((r) => r.ns === 'vault');
    assert.equal(records.length, vault.length);
    assert.ok(!text.includes(marker) && !text.includes(Buffer.from(`secret value ${marker}`).toString('base64').slice(0, 20)), 'no client key, no value in the stream');
    for (const r of records) {
      assert.match(r.key, /^s1:k1:[A-Za-z0-9_-]{43}$/, 'a storage key');
      assert.ok(!r.value.includes(Buffer.from(marker)), 'a sealed record');
    }

    // Into a store with the same key: served as written.
    const b = await server(keyFile(tempDir(), keyBytes));
    const moved = await firkinAsync(['import', '--config', b.config], { file: stream });
    assert.equal(moved.code, 0, moved.stderr);
    assert.match(moved.stdout, /^namespace vault: 20 added, 0 already present \(kept\), 0 expired \(skipped\)$/m);
    for (const s of vault) {
      const got = await request(b.at('vault', s.key));
      assert.equal(got.body.toString(), s.value);
      assert.ok(Math.abs(Number(got.headers['x-ttl']) - 1200) <= 5, `remaining TTL kept: ${got.headers['x-ttl']}`);
    }

    // Into a store whose k1 is another key: stopped at the first record, nothing of it stored.
    const c = await server(keyFile(tempDir()));
    const foreign = await firkinAsync(['import', '--config', c.config, '--namespace', 'vault'], { file: stream });
    assert.equal(foreign.code, 1);
    assert.match(foreign.stderr, /^firkin: import stopped: line \d+: a record of sealed namespace vault does not open under key k1 of .*config\.yaml \(authentication\): the target needs the very key the source has under that id, and the same namespace name\. The records taken before it stay/m);
    assert.match(foreign.stdout, /^namespace vault: 0 added/m);
    for (const s of vault) assert.equal((await request(c.at('vault', s.key))).status, 404);

    // Into a plain namespace: refused before anything is read past the header.
    const d = await server(keyFile(tempDir()), false);
    const toPlain = await firkinAsync(['import', '--config', d.config], { file: stream });
    assert.equal(toPlain.code, 2);
    assert.match(toPlain.stderr, /^firkin: import refused: namespace vault is sealed in the stream and plain in .*config\.yaml/);
    for (const s of plain) assert.equal((await request(d.at('sessions', s.key))).status, 404, 'nothing written');
    for (const r of [refused, exported, moved, foreign, toPlain]) assert.ok(!r.stderr.includes(marker), 'no key in any output');
  });
});
