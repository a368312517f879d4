/**
 * Attack: learning about sessions from the service's own endpoints.
 *
 * Proves, first, that where the namespaces take tokens, /admin/top-keys and
 * /metrics do too: without credentials 401, with a token listed under
 * `admin.tokens` 200. And second, that /admin/top-keys does not let anyone
 * link keys across namespaces: the same key written in two open namespaces is
 * listed under two different key_hash values (the hash is keyed per namespace).
 */
import { describe, it } from 'node:test';
import { request } from '../helpers/http.js';
import { spawnFirkin } from '../helpers/process.js';
import { tokenHash } from '../helpers/secrets.js';
import { tempDir } from '../helpers/tmp.js';
import { Checks, checkService, figures, killService, TEST_TIMEOUT_MS, workerPids } from './harness.js';

const APP_TOKEN = 'top-keys-app-token-7d41c0e2a9';
const ADMIN_TOKEN = 'top-keys-prometheus-token-03be5f';

interface TopKeys {
  readonly windows: readonly { readonly top: readonly { readonly namespace: string; readonly key_hash: string; readonly writes: number }[] }[];
}

describe('attack: reading sessions off the service endpoints', () => {
  it('asks for an admin token on /admin/top-keys and /metrics when the namespaces take tokens', { timeout: TEST_TIMEOUT_MS }, async () => {
    const config = {
      embedded: { path: 'data' },
      namespaces: [{ name: 'sessions', base_uri: '/sessions/v1/', tokens: [{ name: 'app', sha256: tokenHash(APP_TOKEN) }] }],
      admin: { tokens: [{ name: 'prom', sha256: tokenHash(ADMIN_TOKEN) }] },
    };
    const f = await spawnFirkin(tempDir(), config);
    const workersBefore = workerPids(f);
    const status = (path: string, token?: string): Promise<number> =>
      request(`${f.url}${path}`, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } }).then(
        (r) => r.status,
        () => 0,
      );
    // A write, so that /admin/top-keys has a key to show.
    const written = (await request(`${f.url}/sessions/v1/top-keys-session:0001`, { method: 'PUT', body: 'v', headers: { authorization: `Bearer ${APP_TOKEN}` } })).status;
    const anonymous = { topKeys: await status('/admin/top-keys'), metrics: await status('/metrics') };
    const admin = { topKeys: await status('/admin/top-keys', ADMIN_TOKEN), metrics: await status('/metrics', ADMIN_TOKEN) };
    figures('admin-tokens', {
      namespace_write: written,
      anonymous: `top-keys ${anonymous.topKeys} metrics ${anonymous.metrics}`,
      admin_token: `top-keys ${admin.topKeys} metrics ${admin.metrics}`,
    });
    const checks = new Checks();
    checks.ok(written === 201, `a write with the namespace's token answered ${written}`);
    checks.ok(anonymous.topKeys === 401, `/admin/top-keys without credentials answered ${anonymous.topKeys}, not 401`);
    checks.ok(anonymous.metrics === 401, `/metrics without credentials answered ${anonymous.metrics}, not 401`);
    checks.ok(admin.topKeys === 200, `/admin/top-keys with the admin token answered ${admin.topKeys}, not 200`);
    checks.ok(admin.metrics === 200, `/metrics with the admin token answered ${admin.metrics}, not 200`);
    checkService(checks, f, workersBefore);
    await killService(f);
    checks.done();
  });

  it('lists the same key in two namespaces under two different hashes', { timeout: TEST_TIMEOUT_MS }, async () => {
    const f = await spawnFirkin(tempDir(), {
      embedded: { path: 'data' },
      namespaces: [
        { name: 'alpha', base_uri: '/alpha/v1/' },
        { name: 'beta', base_uri: '/beta/v1/' },
      ],
    });
    const workersBefore = workerPids(f);
    const key = 'shared-session-key:0001';
    const writes = [
      (await request(`${f.url}/alpha/v1/${key}`, { method: 'PUT', body: 'a' })).status,
      (await request(`${f.url}/beta/v1/${key}`, { method: 'PUT', body: 'b' })).status,
    ];
    const reply = await request(`${f.url}/admin/top-keys`);
    const top = reply.status === 200 ? ((reply.json() as unknown as TopKeys).windows[0]?.top ?? []) : [];
    const alpha = top.filter((e) => e.namespace === 'alpha');
    const beta = top.filter((e) => e.namespace === 'beta');
    figures('top-keys-namespaces', {
      writes: writes.join(','),
      top_keys: reply.status,
      alpha: alpha.map((e) => e.key_hash).join(',') || 'none',
      beta: beta.map((e) => e.key_hash).join(',') || 'none',
    });
    const checks = new Checks();
    checks.ok(writes.every((s) => s === 201), `the writes answered ${writes.join(', ')}`);
    checks.ok(reply.status === 200, `/admin/top-keys answered ${reply.status}`);
    checks.ok(alpha.length === 1 && beta.length === 1, `expected one entry per namespace, got alpha ${alpha.length}, beta ${beta.length}`);
    checks.ok(alpha[0] === undefined || beta[0] === undefined || alpha[0].key_hash !== beta[0].key_hash, `the same key has the same key_hash (${alpha[0]?.key_hash}) in both namespaces`);
    checkService(checks, f, workersBefore);
    await killService(f);
    checks.done();
  });
});
