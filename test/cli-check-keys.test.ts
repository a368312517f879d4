/** `firkin check-keys` against a real Cassandra (each release line: scripts/test.mjs). */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import cassandra from 'cassandra-driver';
import { CASSANDRA_UNDER_TEST, createTables, rawClient, singleNodeConfig, TEST_KEYSPACE, TEST_NODES } from './helpers/cassandra.js';
import { runFirkin as firkin } from './helpers/process.js';
import { tempDir } from './helpers/tmp.js';

/** A key of exactly `bytes` UTF-8 bytes, the way Kask would have stored it (ASCII, a colon, one two-byte letter). */
export function longKey(marker: string, bytes: number): string {
  const head = `enwiki:MWSession:${marker}:é`;
  return head + 'k'.repeat(bytes - Buffer.byteLength(head));
}

describe(`firkin check-keys, on a table Kask wrote (${CASSANDRA_UNDER_TEST})`, () => {
  const dir = tempDir();
  const table = 'check_keys';
  const marker = `secret${Date.now()}`;
  const config = (extra: string): string => {
    const path = join(dir, `check-keys-${extra === '' ? 'default' : 'raised'}.yaml`);
    writeFileSync(
      path,
      `cassandra:\n  hosts: [${TEST_NODES.single.listen}]\n  keyspace: ${TEST_KEYSPACE}\n  local_dc: datacenter1\n` +
        `namespaces:\n  - {name: sessions, base_uri: /sessions/v1/, table: ${table}}\n${extra}`,
    );
    return path;
  };

  it('counts the keys, names the longest length and the keys over max_key_bytes (never a key): exit 1 at 1024, 0 at 4096', async () => {
    const c = await singleNodeConfig();
    await createTables(c, table);
    const kask = rawClient(c);
    try {
      await kask.execute(`TRUNCATE ${TEST_KEYSPACE}.${table}`);
      // As Kask writes: INSERT … USING TTL, keys of any length up to Cassandra's limit.
      for (const key of [`short-${marker}`, longKey(marker, 1024), longKey(`${marker}b`, 3000)]) {
        await kask.execute(`INSERT INTO ${TEST_KEYSPACE}.${table} (key, value) VALUES (?, ?) USING TTL 3600`, [key, Buffer.from('v')], {
          prepare: true,
        });
      }
      // Enough short keys for three pages of 1000.
      const filler = Array.from({ length: 2500 }, (_, i) => [`filler-${marker}-${i}`, Buffer.from('v')]);
      await cassandra.concurrent.executeConcurrent(kask, `INSERT INTO ${TEST_KEYSPACE}.${table} (key, value) VALUES (?, ?) USING TTL 3600`, filler, {
        concurrencyLevel: 64,
      });
    } finally {
      await kask.shutdown();
    }

    const before = firkin('check-keys', '--config', config(''));
    assert.equal(before.code, 1, before.stderr);
    assert.match(before.stdout, new RegExp(`^namespace sessions \\(${TEST_KEYSPACE}\\.${table}\\): 2503 keys, longest 3000 bytes, 1 longer than max_key_bytes 1024, 0 with control characters$`, 'm'));
    assert.match(before.stdout, /^FAIL: 1 key\(s\) longer than max_key_bytes 1024: .*set max_key_bytes to at least 3000/m);
    assert.ok(!before.stdout.includes(marker) && !before.stderr.includes(marker), 'no key is ever printed');

    const after = firkin('check-keys', '--config', config('max_key_bytes: 4096\n'));
    assert.equal(after.code, 0, after.stdout + after.stderr);
    assert.match(after.stdout, /: 2503 keys, longest 3000 bytes, 0 longer than max_key_bytes 4096, 0 with control characters$/m);
    assert.match(after.stdout, /^ok: /m);
  });

  it('counts keys with control characters (Kask stores %01 and %00; Firkin answers 400 to them): exit 1', async () => {
    const c = await singleNodeConfig();
    await createTables(c, 'check_keys_control');
    const kask = rawClient(c);
    try {
      await kask.execute(`TRUNCATE ${TEST_KEYSPACE}.check_keys_control`);
      for (const key of [`plain-${marker}`, `nul-${marker}\u0000`, `soh-${marker}\u0001`]) {
        await kask.execute(`INSERT INTO ${TEST_KEYSPACE}.check_keys_control (key, value) VALUES (?, ?) USING TTL 3600`, [key, Buffer.from('v')], {
          prepare: true,
        });
      }
    } finally {
      await kask.shutdown();
    }
    const path = join(dir, 'control.yaml');
    writeFileSync(path, `cassandra:\n  hosts: [${TEST_NODES.single.listen}]\n  keyspace: ${TEST_KEYSPACE}\n  table: check_keys_control\nmax_key_bytes: 4096\n`);
    const r = firkin('check-keys', '--config', path);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /: 3 keys, longest \d+ bytes, 0 longer than max_key_bytes 4096, 2 with control characters$/m);
    assert.match(r.stdout, /^FAIL: 2 key\(s\) hold control characters/m);
    assert.ok(!r.stdout.includes(marker), 'no key is ever printed');
  });

  it('fails with exit 1, naming the cause, when the table does not exist', () => {
    const path = join(dir, 'missing-table.yaml');
    writeFileSync(path, `cassandra:\n  hosts: [${TEST_NODES.single.listen}]\n  keyspace: ${TEST_KEYSPACE}\n  table: no_such_table\n`);
    const r = firkin('check-keys', '--config', path);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^firkin: check-keys failed: .*no_such_table/m);
  });
});
