import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { request } from '../helpers/http.js';
import { startTestService, type TestService } from '../helpers/service.js';

describe('namespaces', () => {
  let t: TestService;
  before(async () => {
    t = await startTestService({
      default_ttl: 500,
      namespaces: [
        { name: 'sessions', base_uri: '/sessions/v1/', default_ttl: 3600 },
        { name: 'central', base_uri: '/central/v1', default_ttl: 7200 },
        { name: 'anon', base_uri: 'anon/sessions/' },
      ],
    });
  });

  const ttlOf = async (url: string): Promise<number> => Number((await request(url)).headers['x-ttl']);

  it('keeps the same key in two namespaces as two values', async () => {
    await request(`${t.url}/sessions/v1/shared`, { method: 'PUT', body: 'local' });
    await request(`${t.url}/central/v1/shared`, { method: 'PUT', body: 'central' });
    assert.equal((await request(`${t.url}/sessions/v1/shared`)).body.toString(), 'local');
    assert.equal((await request(`${t.url}/central/v1/shared`)).body.toString(), 'central');
    assert.equal((await request(`${t.url}/anon/sessions/shared`)).status, 404);
  });

  it('deletes in one namespace only', async () => {
    await request(`${t.url}/sessions/v1/gone`, { method: 'PUT', body: 'a' });
    await request(`${t.url}/anon/sessions/gone`, { method: 'PUT', body: 'b' });
    assert.equal((await request(`${t.url}/anon/sessions/gone`, { method: 'DELETE' })).status, 204);
    assert.equal((await request(`${t.url}/sessions/v1/gone`)).body.toString(), 'a');
  });

  it('gives each namespace its own TTL, falling back to the top-level default_ttl', async () => {
    for (const path of ['/sessions/v1/t', '/central/v1/t', '/anon/sessions/t']) {
      await request(t.url + path, { method: 'PUT', body: 'x' });
    }
    const local = await ttlOf(`${t.url}/sessions/v1/t`);
    const central = await ttlOf(`${t.url}/central/v1/t`);
    const anon = await ttlOf(`${t.url}/anon/sessions/t`);
    assert.ok(local > 3590 && local <= 3600, `sessions ${local}`);
    assert.ok(central > 7190 && central <= 7200, `central ${central}`);
    assert.ok(anon > 490 && anon <= 500, `anon ${anon}`);
  });

  it('clamps a client max-age to each namespace default', async () => {
    const headers = { 'cache-control': 'max-age=5000' };
    await request(`${t.url}/sessions/v1/c`, { method: 'PUT', body: 'x', headers });
    await request(`${t.url}/central/v1/c`, { method: 'PUT', body: 'x', headers });
    assert.ok((await ttlOf(`${t.url}/sessions/v1/c`)) <= 3600);
    const central = await ttlOf(`${t.url}/central/v1/c`);
    assert.ok(central > 4990 && central <= 5000, `central ${central}`);
  });
});

describe('namespace with no expiry (default_ttl: 0, as in Kask)', () => {
  let t: TestService;
  before(async () => {
    t = await startTestService({ default_ttl: 0 });
  });

  it('stores without a TTL header unless the client sets max-age', async () => {
    await request(`${t.base}forever`, { method: 'PUT', body: 'x' });
    const forever = await request(`${t.base}forever`);
    assert.equal(forever.status, 200);
    assert.equal(forever.headers['x-ttl'], undefined);
    await request(`${t.base}short`, { method: 'PUT', body: 'x', headers: { 'cache-control': 'max-age=60' } });
    const ttl = Number((await request(`${t.base}short`)).headers['x-ttl']);
    assert.ok(ttl > 50 && ttl <= 60, `ttl ${ttl}`);
  });
});
