/**
 * `firkin serve` on a real Cassandra whose schema is not there yet: it starts, /readyz
 * stays 503 naming the cause, one log line says what is missing and the command that
 * creates it, a request to a namespace gets 503 schema-missing (not a generic 500); once
 * an operator runs that command (`firkin schema --config FILE --apply`), the same process
 * becomes ready and serves, without a restart. A table of another layout is named too.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { configSection, rawClient, singleNodeConfig } from '../helpers/cassandra.js';
import { request } from '../helpers/http.js';
import { runFirkin, spawnFirkin } from '../helpers/process.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.js';

const keyspace = `firkin_schema_${randomUUID().replaceAll('-', '').slice(0, 12)}`;

describe('a Cassandra schema that is not there yet', () => {
  after(async () => {
    const raw = rawClient(await singleNodeConfig());
    await raw.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`);
    await raw.shutdown();
  });

  it('keeps /readyz at 503 with one log line naming what is missing and what to run, answers 503 schema-missing, and serves once it is applied', async () => {
    const c = await singleNodeConfig({ keyspace });
    const dir = tempDir();
    const file = join(dir, 'config.yaml');
    const f = await spawnFirkin(dir, {
      storage: 'cassandra',
      cassandra: configSection(c),
      namespaces: [
        { name: 'sessions', base_uri: '/sessions/v1/', table: 'sessions' },
        { name: 'central', base_uri: '/central/v1/', table: 'central', conditional_writes: true },
      ],
    });
    const schemaLines = (): Record<string, unknown>[] =>
      f.stdout.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => String(l.msg).startsWith('Cassandra schema'));

    const ready = await request(`${f.url}/readyz`);
    assert.equal(ready.status, 503);
    assert.match(String(ready.json().detail), /missing-keyspace/);
    await until(() => schemaLines().length > 0, 'the schema line', 10_000);

    for (const [method, path] of [
      ['GET', '/sessions/v1/k'],
      ['PUT', '/sessions/v1/k'],
      ['PUT', '/central/v1/k'],
      ['DELETE', '/central/v1/k'],
    ] as const) {
      const reply = await request(`${f.url}${path}`, { method, ...(method === 'PUT' ? { body: 'x' } : {}) });
      assert.equal(reply.status, 503, `${method} ${path}: ${reply.body.toString()}`);
      assert.equal(reply.json().type, 'urn:firkin:problem:schema-missing');
      assert.equal(
        reply.json().detail,
        "The Cassandra keyspace of this service does not exist; an operator must create it and this namespace's table (firkin schema --config FILE --apply)",
        'the keyspace is what is missing, not only the table',
      );
    }
    for (let i = 0; i < 5; i++) assert.equal((await request(`${f.url}/readyz`)).status, 503);

    const lines = schemaLines();
    assert.equal(lines.length, 1, `one line however many probes: ${JSON.stringify(lines)}`);
    assert.equal(lines[0]!.level, 'ERROR');
    assert.equal(
      lines[0]!.msg,
      `Cassandra schema incomplete: keyspace "${keyspace}" does not exist (namespace sessions, central); ` +
        `create what is missing with \`firkin schema --config ${file} --apply\` (or run the CQL \`firkin schema --config ${file}\` prints in cqlsh). ` +
        'Until then /readyz answers 503 and requests to these namespaces 503 (checked again every 10 s and at every /readyz; no restart needed)',
    );

    // The operator runs what the line says.
    const applied = runFirkin('schema', '--config', file, '--apply');
    assert.equal(applied.code, 0, applied.stderr);
    // Ready again without a restart: the periodic check alone, no /readyz asked meanwhile.
    await until(() => schemaLines().length === 2, 'the schema-complete line from the periodic check', 15_000, 200);
    assert.equal(schemaLines()[1]!.level, 'INFO');
    assert.match(String(schemaLines()[1]!.msg), /^Cassandra schema complete/);
    assert.equal((await request(`${f.url}/readyz`)).status, 200);
    assert.equal((await request(`${f.url}/sessions/v1/k`, { method: 'PUT', body: 'kept' })).status, 201);
    assert.equal((await request(`${f.url}/sessions/v1/k`)).body.toString(), 'kept');
    assert.equal((await request(`${f.url}/central/v1/k`, { method: 'PUT', body: 'x', headers: { 'if-none-match': '*' } })).status, 201);
    assert.equal(f.child.exitCode, null, 'the same process');
    f.child.kill('SIGTERM');
    assert.equal(await f.exited, 0);
  });

  it("names a table whose columns are not Kask's, and what to do about it", async () => {
    const c = await singleNodeConfig({ keyspace });
    const raw = rawClient(c);
    await raw.execute(`CREATE KEYSPACE IF NOT EXISTS ${keyspace} WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}`);
    await raw.execute(`CREATE TABLE IF NOT EXISTS ${keyspace}.other_layout (key text PRIMARY KEY, value text)`);
    await raw.shutdown();
    const f = await spawnFirkin(tempDir(), { storage: 'cassandra', cassandra: configSection(c, 'other_layout') });
    const ready = await request(`${f.url}/readyz`);
    assert.equal(ready.status, 503);
    assert.match(String(ready.json().detail), /table-mismatch/);
    await until(() => f.stdout.some((l) => l.includes('Cassandra schema incomplete')), 'the schema line', 10_000);
    const line = JSON.parse(f.stdout.find((l) => l.includes('Cassandra schema incomplete'))!) as { msg: string };
    assert.match(
      line.msg,
      new RegExp(
        `^Cassandra schema incomplete: table "${keyspace}"\\."other_layout" has columns key text \\(partition_key\\), value text, not Kask's \\(key text PRIMARY KEY, value blob\\) \\(namespace default\\); ` +
          'point the namespace at a table of its own',
      ),
    );
    f.child.kill('SIGTERM');
    await f.exited;
  });
});
