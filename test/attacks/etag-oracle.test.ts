/**
 * Attack: learn about a value one may not read from the ETags one is given. A client
 * whose token may write (and so touch) but not read a namespace touches a victim's
 * session and is answered its ETag; it also writes values of its own. The ETag must
 * tell it nothing about the victim's bytes: not their SHA-256 (which would let it
 * confirm a guessed session offline), and not equality with a value it wrote itself
 * under its own key (an online oracle). On both engines.
 */
import { createHash, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { configSection, createTables, singleNodeConfig } from '../helpers/cassandra.js';
import { request } from '../helpers/http.js';
import { spawnFirkin } from '../helpers/process.js';
import { tokenHash } from '../helpers/secrets.js';
import { tempDir } from '../helpers/tmp.js';
import { Checks, checkService, figures, killService, TEST_TIMEOUT_MS, workerPids } from './harness.js';

const TABLE = 'etag_oracle';

describe('attack: an ETag as an oracle on a value one may not read', () => {
  for (const engine of ['embedded', 'cassandra'] as const) {
    it(`tells a write-only client nothing about another key's value (${engine})`, { timeout: TEST_TIMEOUT_MS }, async () => {
      const owner = randomBytes(24).toString('base64url');
      const writer = randomBytes(24).toString('base64url');
      const storage =
        engine === 'embedded'
          ? { embedded: { path: 'data' } }
          : await (async () => {
              const c = await singleNodeConfig();
              await createTables(c, TABLE);
              return { storage: 'cassandra', cassandra: configSection(c) };
            })();
      const f = await spawnFirkin(tempDir(), {
        ...storage,
        namespaces: [
          {
            name: 'sessions',
            base_uri: '/sessions/v1/',
            table: TABLE,
            tokens: [
              { name: 'owner', sha256: tokenHash(owner) },
              { name: 'writer', sha256: tokenHash(writer), operations: ['write'] },
            ],
          },
        ],
      });
      const workersBefore = workerPids(f);
      const as = (token: string, key: string, method: string, body?: string) =>
        request(`${f.url}/sessions/v1/${key}`, { method, body, headers: { Authorization: `Bearer ${token}` } });
      const victim = `enwiki:MWSession:${randomBytes(16).toString('hex')}`;
      const guess = `{"wsUserID":4242,"wsUserName":"Victim","wsToken":"${randomBytes(8).toString('hex')}"}`;
      const stored = await as(owner, encodeURIComponent(victim), 'PUT', guess);
      const read = await as(writer, encodeURIComponent(victim), 'GET');
      const touched = await as(writer, encodeURIComponent(victim), 'PATCH');
      const etag = touched.headers.etag ?? '';
      const own = await as(writer, encodeURIComponent(`enwiki:MWSession:${randomBytes(16).toString('hex')}`), 'PUT', guess);
      const plainHash = `"${createHash('sha256').update(guess).digest().subarray(0, 16).toString('base64url')}"`;

      figures('etag-oracle', { engine, stored: stored.status, writer_get: read.status, writer_touch: touched.status, writer_own_put: own.status });
      const checks = new Checks();
      checks.ok(stored.status === 201, `the owner's PUT answered ${stored.status}`);
      checks.ok(read.status === 403, `the write-only client's GET answered ${read.status}, not 403`);
      checks.ok(touched.status === 204 && /^"[A-Za-z0-9_-]{22}"$/.test(etag), `the write-only client's PATCH answered ${touched.status} with ETag ${etag}`);
      checks.ok(etag !== plainHash, `the ETag is the SHA-256 of the value (${etag}): the client can confirm a guess offline`);
      checks.ok(own.headers.etag !== etag, 'the same bytes under the client\u2019s own key have the victim\u2019s ETag: an equality oracle');
      checkService(checks, f, workersBefore);
      await killService(f);
      checks.done();
    });
  }
});
