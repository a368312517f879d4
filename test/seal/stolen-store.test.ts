/**
 * A stolen store: 1 000 sessions whose keys and values carry known markers are written
 * through a real `firkin serve` into a sealed namespace, and 1 000 into a plain one
 * beside it (the control: the same search must find those, or it proves nothing). Then
 * everything an attacker could take is searched byte for byte: the embedded store's
 * files; on Cassandra, the data directory after `nodetool flush` (SSTables, written
 * uncompressed for the search, and the commit log) and a `SELECT *` through the driver.
 * No key marker and no value marker of the sealed namespace may appear anywhere.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { nodeFiles, nodetool } from '../../tools/cassandra/node.js';
import { configSection, createTables, rawClient, singleNodeConfig, TEST_NODES } from '../helpers/cassandra.js';
import { request } from '../helpers/http.js';
import { spawnFirkin } from '../helpers/process.js';
import { tempDir } from '../helpers/tmp.js';

const SESSIONS = 1000;
const RUN = randomBytes(6).toString('hex');
/** Markers unique to this run: what a thief would look for (sealed namespace S…, plain P…). */
const MARK = { sealedKey: `SKEY${RUN}`, sealedValue: `SVAL${RUN}`, plainKey: `PKEY${RUN}`, plainValue: `PVAL${RUN}` } as const;

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    const st = statSync(path);
    return st.isDirectory() ? files(path) : st.isFile() ? [path] : [];
  });
}

/** How many times each marker occurs in `data` (the number of occurrences of its `-` form). */
function occurrences(data: Buffer): Record<keyof typeof MARK, number> {
  const count = (needle: string): number => {
    let n = 0;
    for (let at = data.indexOf(needle); at !== -1; at = data.indexOf(needle, at + 1)) n++;
    return n;
  };
  return { sealedKey: count(MARK.sealedKey), sealedValue: count(MARK.sealedValue), plainKey: count(MARK.plainKey), plainValue: count(MARK.plainValue) };
}

function sum(a: Record<string, number>, b: Record<string, number>): Record<keyof typeof MARK, number> {
  return Object.fromEntries(Object.keys(MARK).map((k) => [k, (a[k] ?? 0) + (b[k] ?? 0)])) as Record<keyof typeof MARK, number>;
}

/** Write the sessions of both namespaces through the service at `url`. */
async function writeSessions(url: string): Promise<void> {
  for (let i = 0; i < SESSIONS; i++) {
    for (const [base, key, value] of [
      ['/sealed/v1/', MARK.sealedKey, MARK.sealedValue],
      ['/plain/v1/', MARK.plainKey, MARK.plainValue],
    ] as const) {
      const k = encodeURIComponent(`enwiki:MWSession:${key}-${i}-${randomBytes(8).toString('hex')}`);
      const body = `{"wsUserName":"User${i}","secret":"${value}-${i}","wsToken":"${randomBytes(16).toString('hex')}"}`;
      const r = await request(`${url}${base}${k}`, { method: 'PUT', body });
      assert.equal(r.status, 201);
    }
  }
}

describe('a stolen store yields no session key and no session', () => {
  it('embedded: the LMDB files hold no key and no value of the sealed namespace (and those of the plain one)', { timeout: 300_000 }, async () => {
    const dir = tempDir();
    const key = join(dir, 'k1');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(key, randomBytes(32), { mode: 0o600 });
    const f = await spawnFirkin(dir, {
      embedded: { path: 'data' },
      workers: 1,
      keyring: { active: 'k1', keys: [{ id: 'k1', file: key }] },
      namespaces: [
        { name: 'sealed', base_uri: '/sealed/v1/', sealed: true },
        { name: 'plain', base_uri: '/plain/v1/' },
      ],
    });
    await writeSessions(f.url);
    f.child.kill('SIGTERM');
    assert.equal(await f.exited, 0);
    let found = occurrences(Buffer.alloc(0));
    for (const file of files(join(dir, 'data'))) found = sum(found, occurrences(readFileSync(file)));
    console.log(`# stolen store, embedded LMDB files: ${JSON.stringify(found)}`);
    assert.equal(found.sealedKey, 0, 'a sealed session key in the LMDB files');
    assert.equal(found.sealedValue, 0, 'a sealed session value in the LMDB files');
    assert.ok(found.plainKey >= SESSIONS && found.plainValue >= SESSIONS, `the control: the plain namespace's markers are found (${JSON.stringify(found)})`);
  });

  it('Cassandra: SSTables, commit log and SELECT * hold no key and no value of the sealed namespace (and those of the plain one)', { timeout: 300_000 }, async () => {
    const c = await singleNodeConfig();
    const tables = [`stolen_sealed_${RUN}`, `stolen_plain_${RUN}`];
    await createTables(c, ...tables);
    const client = rawClient(c);
    try {
      // Uncompressed SSTables: a compressed one would hide the control's markers from a byte search.
      for (const t of tables) await client.execute(`ALTER TABLE "${c.keyspace}"."${t}" WITH compression = {'enabled': 'false'}`);
      const dir = tempDir();
      const key = join(dir, 'k1');
      const { writeFileSync } = await import('node:fs');
      writeFileSync(key, randomBytes(32), { mode: 0o600 });
      const f = await spawnFirkin(dir, {
        storage: 'cassandra',
        cassandra: configSection(c),
        keyring: { active: 'k1', keys: [{ id: 'k1', file: key }] },
        namespaces: [
          { name: 'sealed', base_uri: '/sealed/v1/', table: tables[0], sealed: true },
          { name: 'plain', base_uri: '/plain/v1/', table: tables[1] },
        ],
      });
      await writeSessions(f.url);
      f.child.kill('SIGTERM');
      assert.equal(await f.exited, 0);
      nodetool(TEST_NODES.single, 'flush', c.keyspace, ...tables);

      // SELECT *, as anyone with read access to the keyspace could.
      let selected = occurrences(Buffer.alloc(0));
      for (const t of tables) {
        let pageState: string | undefined;
        do {
          const page = await client.execute(`SELECT * FROM "${c.keyspace}"."${t}"`, [], { prepare: true, fetchSize: 500, pageState });
          for (const row of page.rows) selected = sum(selected, occurrences(Buffer.concat([Buffer.from(String(row.get('key'))), row.get('value') as Buffer])));
          pageState = page.pageState ?? undefined;
        } while (pageState !== undefined);
      }
      console.log(`# stolen store, Cassandra SELECT *: ${JSON.stringify(selected)}`);
      assert.equal(selected.sealedKey + selected.sealedValue, 0, `a sealed marker in SELECT * (${JSON.stringify(selected)})`);
      assert.ok(selected.plainKey === SESSIONS && selected.plainValue === SESSIONS, `the control: SELECT * shows the plain ones (${JSON.stringify(selected)})`);

      // The files: the tables' SSTables and the whole commit log.
      const { data, commitlog } = nodeFiles(TEST_NODES.single);
      const keyspaceDir = join(data, c.keyspace);
      const tableDirs = readdirSync(keyspaceDir).filter((d) => tables.some((t) => d.startsWith(`${t}-`)));
      assert.equal(tableDirs.length, 2, `both tables' directories under ${keyspaceDir}`);
      let sstables = occurrences(Buffer.alloc(0));
      for (const d of tableDirs) for (const file of files(join(keyspaceDir, d))) sstables = sum(sstables, occurrences(readFileSync(file)));
      let log = occurrences(Buffer.alloc(0));
      for (const file of files(commitlog)) log = sum(log, occurrences(readFileSync(file)));
      console.log(`# stolen store, Cassandra SSTables: ${JSON.stringify(sstables)}; commit log: ${JSON.stringify(log)}`);
      assert.equal(sstables.sealedKey + sstables.sealedValue, 0, `a sealed marker in the SSTables (${JSON.stringify(sstables)})`);
      assert.equal(log.sealedKey + log.sealedValue, 0, `a sealed marker in the commit log (${JSON.stringify(log)})`);
      assert.ok(sstables.plainKey >= SESSIONS && sstables.plainValue >= SESSIONS, `the control: the SSTables show the plain ones (${JSON.stringify(sstables)})`);
      assert.ok(log.plainKey >= SESSIONS && log.plainValue >= SESSIONS, `the control: the commit log shows the plain ones (${JSON.stringify(log)})`);
    } finally {
      for (const t of tables) await client.execute(`DROP TABLE IF EXISTS "${c.keyspace}"."${t}"`).catch(() => undefined);
      await client.shutdown();
    }
  });
});
