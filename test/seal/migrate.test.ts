/**
 * Sealing a live plain namespace (`sealed: migrate`, then `sealed: true`), on both
 * engines through real `firkin serve` restarts: in migrate mode plain sessions read on,
 * a write seals the session and removes its plain copy, a touch moves it, a delete
 * removes every copy; `firkin keys status` counts what is left plain; once switched to
 * `sealed: true`, plain copies are no longer read.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { stringify } from 'yaml';
import { configSection, createTables, singleNodeConfig } from '../helpers/cassandra.js';
import { request } from '../helpers/http.js';
import { runFirkin, spawnFirkin, type FirkinProcess } from '../helpers/process.js';
import { tempDir } from '../helpers/tmp.js';

describe('migrating a plain namespace to sealed', () => {
  for (const engine of ['embedded', 'cassandra'] as const) {
    it(`reads plain copies in migrate mode, seals what it writes or touches, and stops reading plain ones once sealed (${engine})`, { timeout: 120_000 }, async () => {
      const dir = tempDir();
      writeFileSync(join(dir, 'k1'), randomBytes(32), { mode: 0o600 });
      let storage: Record<string, unknown> = { embedded: { path: join(dir, 'data') } };
      if (engine === 'cassandra') {
        const c = await singleNodeConfig();
        const table = `migrate_${randomBytes(4).toString('hex')}`;
        await createTables(c, table);
        storage = { storage: 'cassandra', cassandra: { ...configSection(c), table } };
      }
      const keyring = { active: 'k1', keys: [{ id: 'k1', file: join(dir, 'k1') }] };
      const configFile = join(dir, 'config.yaml');
      const start = (sealed: boolean | 'migrate'): Promise<FirkinProcess> => {
        const c = { ...storage, keyring, sealed };
        writeFileSync(configFile, stringify({ listen_port: 0, workers: 1, ...c }), { mode: 0o600 });
        return spawnFirkin(dir, c);
      };
      const stop = async (f: FirkinProcess): Promise<void> => {
        f.child.kill('SIGTERM');
        assert.equal(await f.exited, 0);
      };
      const at = (f: FirkinProcess, key: string): string => `${f.url}/sessions/v1/${encodeURIComponent(key)}`;
      const keys = Array.from({ length: 10 }, (_, i) => `enwiki:MWSession:migrate-${i}-${randomBytes(6).toString('hex')}`);

      let f = await start(false);
      for (const k of keys) assert.equal((await request(at(f, k), { method: 'PUT', body: `plain ${k}` })).status, 201);
      await stop(f);

      f = await start('migrate');
      for (const k of keys) assert.equal((await request(at(f, k))).body.toString(), `plain ${k}`, 'a plain session reads on');
      const [written, touched, deleted] = [keys.slice(0, 3), keys.slice(3, 6), keys[6]!];
      for (const k of written) assert.equal((await request(at(f, k), { method: 'PUT', body: `sealed ${k}` })).status, 201);
      for (const k of touched) assert.equal((await request(at(f, k), { method: 'PATCH' })).status, 204);
      assert.equal((await request(at(f, deleted), { method: 'DELETE' })).status, 204);
      assert.equal((await request(at(f, deleted))).status, 404, 'deleted, every copy');
      for (const k of written) assert.equal((await request(at(f, k))).body.toString(), `sealed ${k}`);
      for (const k of touched) assert.equal((await request(at(f, k))).body.toString(), `plain ${k}`, 'moved, sealed, same value');
      // A key shaped like a sealed storage key is never looked up as a plain one.
      assert.equal((await request(at(f, 's1:k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'))).status, 404);
      const census = runFirkin('keys', 'status', '--config', configFile);
      assert.equal(census.code, 0, census.stderr);
      assert.match(census.stdout, /namespace default \(sealed: migrate\): .*k1 \(active\) 6, plain 3\n/);
      await stop(f);

      f = await start(true);
      for (const k of [...written, ...touched]) assert.equal((await request(at(f, k))).status, 200);
      for (const k of keys.slice(7)) assert.equal((await request(at(f, k))).status, 404, 'plain copies are no longer read once sealed');
      await stop(f);
    });
  }
});
