/**
 * Cassandra as a source and a target of `firkin export` / `firkin import`
 * (storage/cassandra/transfer.ts), on a real node, below the command: an import's write
 * into a plain namespace loses to a server's write or delete made after its read even
 * when that server's clock is somewhat behind the importing host's; an export's pages
 * are bounded by bytes from the first one on (the largest values the config allows).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import cassandra from 'cassandra-driver';
import { stringify } from 'yaml';
import type { CassandraConfig } from '../../src/config/types.js';
import { parseConfig } from '../../src/config/load.js';
import { IMPORT_CLOCK_MARGIN_MS } from '../../src/storage/cassandra/plain-store.js';
import { openSource, openTarget, PAGE_BYTES } from '../../src/storage/transfer.js';
import { CASSANDRA_UNDER_TEST, configSection, createTables, rawClient, singleNodeConfig } from '../helpers/cassandra.js';

/** A server's clock this far behind the importing host's: within the margin. */
const BEHIND_MS = 500;

describe(`the transfer of plain namespaces on ${CASSANDRA_UNDER_TEST}`, () => {
  let c: CassandraConfig;
  let client: ReturnType<typeof rawClient>;
  const table = `transfer_unit_${randomBytes(4).toString('hex')}`;
  const config = (extra: Record<string, unknown> = {}) =>
    parseConfig(stringify({ storage: 'cassandra', cassandra: configSection(c), namespaces: [{ name: 'sessions', base_uri: '/sessions/v1/', default_ttl: 3600, table }], ...extra }), 'test.yaml');

  before(async () => {
    c = await singleNodeConfig();
    await createTables(c, table);
    client = rawClient(c);
  });
  after(async () => {
    await client?.execute(`DROP TABLE IF EXISTS ${c.keyspace}.${table}`).catch(() => undefined);
    await client?.shutdown();
  });

  it(`an import's add loses to a write or delete made after it by a server whose clock is ${BEHIND_MS} ms behind`, async () => {
    assert.ok(BEHIND_MS < IMPORT_CLOCK_MARGIN_MS);
    const target = await openTarget(config());
    const spec = { name: 'sessions', table };
    const [written, deleted] = [`clock-written-${randomBytes(6).toString('hex')}`, `clock-deleted-${randomBytes(6).toString('hex')}`];
    const value = async (key: string): Promise<string | undefined> =>
      (await client.execute(`SELECT value FROM ${c.keyspace}.${table} WHERE key = ?`, [key], { prepare: true })).first()?.get('value')?.toString();
    // A server's write or delete made right after the import's read (which follows `before`), stamped by a clock BEHIND_MS behind.
    const stamps = new Map<string, cassandra.types.Long>();
    try {
      await target.add(spec, `clock-warm-up-${randomBytes(6).toString('hex')}`, Buffer.from('x'), () => 600); // statements prepared
      for (const key of [written, deleted]) {
        const before = Date.now();
        assert.equal(await target.add(spec, key, Buffer.from('imported, older'), () => 600), true);
        stamps.set(key, cassandra.types.Long.fromNumber((before + 1 - BEHIND_MS) * 1000));
      }
    } finally {
      await target.close();
    }
    await client.execute(`INSERT INTO ${c.keyspace}.${table} (key, value) VALUES (?, ?) USING TIMESTAMP ?`, [written, Buffer.from('written by a server since'), stamps.get(written)], { prepare: true });
    await client.execute(`DELETE FROM ${c.keyspace}.${table} USING TIMESTAMP ? WHERE key = ?`, [stamps.get(deleted), deleted], { prepare: true });
    assert.equal(await value(written), 'written by a server since', "the server's later write wins");
    assert.equal(await value(deleted), undefined, "the server's later delete wins");
  });

  it('an export reads a first page of no more rows than PAGE_BYTES of the largest values hold (at least 10)', async () => {
    const maxValueBytes = 256 * 1024;
    const rows = 40;
    const keys = Array.from({ length: rows }, (_, i) => `page-${i}-${randomBytes(6).toString('hex')}`);
    for (const key of keys) {
      await client.execute(`INSERT INTO ${c.keyspace}.${table} (key, value) VALUES (?, ?) USING TTL 600`, [key, randomBytes(200 * 1024)], { prepare: true });
    }
    const source = await openSource(config({ max_value_bytes: maxValueBytes }));
    const sizes: number[] = [];
    try {
      for await (const page of source.pages({ name: 'sessions', table })) sizes.push(page.filter((r) => keys.includes(r.key)).length);
    } finally {
      await source.close();
    }
    const first = Math.max(10, Math.floor(PAGE_BYTES / maxValueBytes));
    assert.equal(sizes.reduce((a, b) => a + b, 0), rows, 'every row read');
    assert.ok(sizes[0]! <= first, `first page: ${sizes[0]} rows of 200 KiB (at most ${first}); pages ${sizes.join(', ')}`);
  });
});
