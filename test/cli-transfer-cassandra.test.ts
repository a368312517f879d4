// test-tier: full (a Cassandra node, and 100 000 sessions moved both ways)
/**
 * Moving a live embedded store to Cassandra, and back (docs/operations.md, "Moving to
 * Cassandra (and back)"): `firkin export` of 100 000 sessions from an embedded store,
 * `firkin import` into fresh Cassandra tables (a plain namespace, which reads then writes
 * stamped before the read, and a `conditional_writes` one, which adds with a lightweight
 * transaction); every key, value and remaining TTL checked on the table itself; a newer
 * value already in Cassandra is kept; the same stream again adds nothing; a server on
 * Cassandra serves the sessions; then Cassandra back into a fresh embedded store.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { stringify } from 'yaml';
import { EmbeddedEngine } from '../src/storage/embedded/lmdb-engine.js';
import { CASSANDRA_UNDER_TEST, configSection, createTables, rawClient, singleNodeConfig } from './helpers/cassandra.js';
import { request } from './helpers/http.js';
import { spawnFirkin } from './helpers/process.js';
import { tempDir } from './helpers/tmp.js';
import { exportTo, firkinAsync, pipeline } from './helpers/transfer.js';

const COUNT = 100_000;
const LWT_COUNT = 500;

interface Expected {
  readonly value: Buffer;
  /** ms since the epoch; null: never. */
  readonly expiresAt: number | null;
}

/** Every live record of an embedded store's namespace, read as export reads it. */
async function embeddedRecords(path: string, name: string): Promise<Map<string, Expected>> {
  const engine = new EmbeddedEngine({ path, readOnly: true });
  const out = new Map<string, Expected>();
  try {
    const store = engine.store({ name });
    let after: string | undefined;
    for (;;) {
      const page = store.scan(after, 5000, 64 << 20);
      for (const r of page.records) out.set(r.key, { value: Buffer.from(r.value), expiresAt: r.expiresAt });
      if (page.done) break;
      after = page.last;
    }
  } finally {
    await engine.close();
  }
  return out;
}

/**
 * Every row of a Cassandra table with its TTL, and the interval its page was read in
 * (a scan of 100 000 rows takes seconds: each TTL is as of its page, some moment of it).
 */
async function cassandraRows(client: ReturnType<typeof rawClient>, keyspace: string, table: string): Promise<Map<string, { value: Buffer; ttl: number | null; from: number; to: number }>> {
  const rows = new Map<string, { value: Buffer; ttl: number | null; from: number; to: number }>();
  let pageState: string | undefined;
  do {
    const from = Date.now();
    const rs = await client.execute(`SELECT key, value, TTL(value) AS ttl FROM ${keyspace}.${table}`, [], { prepare: true, fetchSize: 2000, ...(pageState === undefined ? {} : { pageState }) });
    const to = Date.now();
    for (const row of rs.rows) {
      const value = row.get('value') as Buffer | null;
      if (value !== null) rows.set(row.get('key') as string, { value, ttl: row.get('ttl') as number | null, from, to });
    }
    pageState = rs.pageState ?? undefined;
  } while (pageState !== undefined);
  return rows;
}

/** How far `seconds` lies outside [lo, hi]. */
const outside = (seconds: number, lo: number, hi: number): number => Math.max(0, lo - seconds, seconds - hi);

describe(`firkin export | firkin import, embedded to ${CASSANDRA_UNDER_TEST} and back`, () => {
  it('moves 100 000 sessions to Cassandra with every value and TTL (within 2 s), keeps newer values, adds nothing the second time, and moves them back', { timeout: 540_000 }, async () => {
    const c = await singleNodeConfig();
    const suffix = randomBytes(4).toString('hex');
    const [plainTable, lwtTable] = [`transfer_${suffix}`, `transfer_lwt_${suffix}`];
    await createTables(c, plainTable, lwtTable);
    const client = rawClient(c);
    try {
      // The embedded source: 100 000 sessions, TTLs from 10 minutes to a day, some never expiring.
      const dir = tempDir();
      const source = join(dir, 'data');
      const engine = new EmbeddedEngine({ path: source });
      const sessions = engine.store({ name: 'sessions' });
      const lwt = engine.store({ name: 'tokens' });
      const ttlOf = (i: number): number => (i % 50 === 0 ? 0 : 600 + ((i * 7919) % 86_000));
      for (let i = 0; i < COUNT; i += 1000) {
        await Promise.all(
          Array.from({ length: 1000 }, (_, j) => sessions.set(`enwiki:MWSession:${suffix}-${i + j}`, randomBytes(64 + ((i + j) % 400)), ttlOf(i + j))),
        );
      }
      for (let i = 0; i < LWT_COUNT; i++) await lwt.set(`token:${suffix}-${i}`, randomBytes(100), ttlOf(i));
      await engine.close();
      const namespaces = [
        { name: 'sessions', base_uri: '/sessions/v1/', default_ttl: 0 }, // no expiry stays no expiry
        { name: 'tokens', base_uri: '/tokens/v1/', default_ttl: 86_400 * 7 },
      ];
      const embeddedConfig = join(dir, 'embedded.yaml');
      writeFileSync(embeddedConfig, stringify({ embedded: { path: source }, namespaces }));
      const cassandraDir = tempDir();
      const cassandraConfig = {
        storage: 'cassandra',
        cassandra: configSection(c),
        namespaces: [
          { ...namespaces[0], table: plainTable },
          { ...namespaces[1], table: lwtTable, conditional_writes: true },
        ],
      };
      const cassandraFile = join(cassandraDir, 'cassandra.yaml');
      writeFileSync(cassandraFile, stringify(cassandraConfig));
      const expected = await embeddedRecords(source, 'sessions');
      const expectedTokens = await embeddedRecords(source, 'tokens');
      assert.equal(expected.size, COUNT);

      // Newer values already in Cassandra (written there since the move began): kept.
      const keys = [...expected.keys()];
      const newer = [keys[11]!, keys[54_321]!];
      for (const k of newer) await client.execute(`INSERT INTO ${c.keyspace}.${plainTable} (key, value) VALUES (?, ?) USING TTL 5000`, [k, Buffer.from('newer in cassandra')], { prepare: true });
      const newerToken = [...expectedTokens.keys()][3]!;
      await client.execute(`INSERT INTO ${c.keyspace}.${lwtTable} (key, value) VALUES (?, ?) USING TTL 5000`, [newerToken, Buffer.from('newer token')], { prepare: true });

      const stream = join(dir, 'stream.ndjson');
      const started = Date.now();
      const exported = await exportTo(embeddedConfig, stream);
      const exportSeconds = (Date.now() - started) / 1000;
      assert.equal(exported.code, 0, exported.stderr);
      const importStarted = Date.now();
      const imported = await firkinAsync(['import', '--config', cassandraFile], { file: stream });
      const importSeconds = (Date.now() - importStarted) / 1000;
      assert.equal(imported.code, 0, imported.stderr);
      console.log(`# export of ${COUNT + LWT_COUNT} sessions: ${exportSeconds.toFixed(1)} s; import into Cassandra: ${importSeconds.toFixed(1)} s`);
      assert.match(imported.stdout, new RegExp(`^namespace sessions: ${COUNT - newer.length} added, ${newer.length} already present \\(kept\\), 0 expired \\(skipped\\)$`, 'm'));
      assert.match(imported.stdout, new RegExp(`^namespace tokens: ${LWT_COUNT - 1} added, 1 already present \\(kept\\), 0 expired \\(skipped\\)$`, 'm'));

      // Every key, value and TTL, on the table itself.
      const rows = await cassandraRows(client, c.keyspace, plainTable);
      assert.equal(rows.size, COUNT);
      let worst = 0;
      for (const [key, want] of expected) {
        const got = rows.get(key);
        assert.ok(got !== undefined, 'every key moved');
        if (newer.includes(key)) {
          assert.equal(got.value.toString(), 'newer in cassandra', 'a newer value is never overwritten');
          continue;
        }
        assert.ok(got.value.equals(want.value), 'the same bytes');
        if (want.expiresAt === null) {
          assert.equal(got.ttl, null, 'no expiry stays no expiry');
          continue;
        }
        assert.ok(got.ttl !== null);
        // Cassandra's TTL is whole seconds (rounded down), an import's rounded up; the page was read at some moment between from and to.
        const drift = outside(got.ttl, (want.expiresAt - got.to) / 1000, (want.expiresAt - got.from) / 1000);
        worst = Math.max(worst, drift);
        assert.ok(drift <= 2, `TTL within 2 s: ${got.ttl} s for ${((want.expiresAt - got.to) / 1000).toFixed(1)}–${((want.expiresAt - got.from) / 1000).toFixed(1)} s`);
      }
      console.log(`# worst TTL drift: ${worst.toFixed(2)} s`);
      const tokens = await cassandraRows(client, c.keyspace, lwtTable);
      assert.equal(tokens.size, LWT_COUNT);
      for (const [key, want] of expectedTokens) {
        const got = tokens.get(key)!;
        assert.ok(key === newerToken ? got.value.toString() === 'newer token' : got.value.equals(want.value));
      }

      // The same stream again: nothing added, nothing changed.
      const again = await firkinAsync(['import', '--config', cassandraFile, '--namespace', 'tokens'], { file: stream });
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stdout, new RegExp(`^namespace tokens: 0 added, ${LWT_COUNT} already present \\(kept\\), 0 expired \\(skipped\\)$`, 'm'));
      assert.match(again.stdout, new RegExp(`${COUNT} of other namespaces skipped`));
      assert.equal((await client.execute(`SELECT value FROM ${c.keyspace}.${lwtTable} WHERE key = ?`, [newerToken], { prepare: true })).first()?.get('value').toString(), 'newer token');

      // A server on Cassandra serves them.
      const server = await spawnFirkin(cassandraDir, cassandraConfig);
      for (const key of keys.slice(1000, 1020)) {
        const got = await request(`${server.url}/sessions/v1/${encodeURIComponent(key)}`);
        assert.equal(got.status, 200);
        assert.ok(got.body.equals(expected.get(key)!.value));
      }

      // And back: Cassandra into a fresh embedded store, through a pipe.
      const backDir = tempDir();
      const backConfig = join(backDir, 'back.yaml');
      writeFileSync(backConfig, stringify({ embedded: { path: join(backDir, 'data') }, namespaces }));
      const backStarted = Date.now();
      const back = await pipeline(cassandraFile, backConfig);
      console.log(`# Cassandra back to embedded, ${COUNT + LWT_COUNT} sessions: ${((Date.now() - backStarted) / 1000).toFixed(1)} s`);
      assert.equal(back.exported.code, 0, back.exported.stderr);
      assert.equal(back.imported.code, 0, back.imported.stderr);
      assert.match(back.imported.stdout, new RegExp(`^namespace sessions: ${COUNT} added, 0 already present`, 'm'));
      const returned = await embeddedRecords(join(backDir, 'data'), 'sessions');
      assert.equal(returned.size, COUNT);
      const now = await cassandraRows(client, c.keyspace, plainTable);
      for (const [key, got] of returned) {
        const want = now.get(key)!;
        assert.ok(got.value.equals(want.value), 'the same bytes back');
        if (want.ttl === null) {
          assert.equal(got.expiresAt, null);
          continue;
        }
        assert.ok(got.expiresAt !== null);
        // Cassandra's TTL is whole seconds: the expiry it implies is known to within 1 s.
        const drift = outside(got.expiresAt / 1000, want.from / 1000 + want.ttl, want.to / 1000 + want.ttl);
        assert.ok(drift <= 2, `TTL back within 2 s (drift ${drift.toFixed(2)} s)`);
      }
    } finally {
      await client.execute(`DROP TABLE IF EXISTS ${c.keyspace}.${plainTable}`).catch(() => undefined);
      await client.execute(`DROP TABLE IF EXISTS ${c.keyspace}.${lwtTable}`).catch(() => undefined);
      await client.shutdown();
    }
  });
});
