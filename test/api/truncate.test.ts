/**
 * POST /admin/namespaces/{name}/truncate on the embedded engine, over real HTTP(S):
 * one namespace signed out, the others untouched; only an admin client, only POST,
 * never without admin credentials configured; logged with who did it, and counted.
 * (On Cassandra with a node down: test/faults/truncate.fault.ts.)
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { REFUSAL_LINES_PER_SECOND } from '../../src/access/refusal-log.js';
import { request, type Reply, type RequestOptions } from '../helpers/http.js';
import { pem, TestCa } from '../helpers/pki.js';
import { scrape } from '../helpers/prometheus.js';
import { tokenHash } from '../helpers/secrets.js';
import { startTestService, type TestService } from '../helpers/service.js';

type LogLine = Record<string, unknown>;
const logLines = (t: TestService): LogLine[] => t.logs.map((l) => JSON.parse(l) as LogLine);
const bearer = (token: string): RequestOptions => ({ headers: { authorization: `Bearer ${token}` } });

const ADMIN_TOKEN = 'ops-token-3c9e1a7f52d4';
const NS_TOKEN = 'mediawiki-token-8b2d6f0e4a13';
const NAMESPACES = [
  { name: 'sessions', base_uri: '/sessions/v1/' },
  { name: 'tokens', base_uri: '/tokens/v1/', tokens: [{ name: 'mediawiki', sha256: tokenHash(NS_TOKEN) }] },
];
const ADMIN = { tokens: [{ name: 'ops', sha256: tokenHash(ADMIN_TOKEN) }] };
const AS_ADMIN = bearer(ADMIN_TOKEN);

const truncate = (url: string, namespace: string, options: RequestOptions = AS_ADMIN): Promise<Reply> =>
  request(`${url}/admin/namespaces/${namespace}/truncate`, { method: 'POST', ...options });

/** Store `n` fresh keys in the namespace at `base` (some expiring, one not); returns their URLs. */
async function store(base: string, n: number, options: RequestOptions = {}): Promise<string[]> {
  const urls = Array.from({ length: n }, () => `${base}enwiki:MWSession:${randomUUID()}`);
  for (const [i, url] of urls.entries()) {
    const headers = { ...options.headers, ...(i === 0 ? {} : { 'cache-control': 'max-age=600' }) };
    assert.equal((await request(url, { method: 'PUT', body: `session ${i}`, headers })).status, 201);
  }
  return urls;
}

async function statuses(urls: readonly string[], options: RequestOptions = {}): Promise<number[]> {
  return Promise.all(urls.map(async (url) => (await request(url, options)).status));
}

describe('namespace truncation', () => {
  let t: TestService;
  before(async () => {
    t = await startTestService({ namespaces: NAMESPACES, admin: ADMIN, failed_auth_limit: { burst: 1000 } });
  });

  it('signs everyone out of one namespace; the other keeps its values', async () => {
    const sessions = await store(`${t.url}/sessions/v1/`, 5);
    // The same keys in the other namespace.
    const tokens = sessions.map((u) => u.replace('/sessions/v1/', '/tokens/v1/'));
    for (const url of tokens) assert.equal((await request(url, { method: 'PUT', body: 'kept', ...bearer(NS_TOKEN) })).status, 201);

    const reply = await truncate(t.url, 'sessions');
    assert.equal(reply.status, 204);
    assert.equal(reply.body.length, 0);
    assert.deepEqual(await statuses(sessions), [404, 404, 404, 404, 404], 'every session of the namespace is gone');
    assert.deepEqual(await statuses(tokens, bearer(NS_TOKEN)), [200, 200, 200, 200, 200], 'the other namespace is untouched');
    assert.equal((await request(sessions[0]!, { method: 'PUT', body: 'again', headers: { 'if-none-match': '*' } })).status, 201, 'writable at once');

    const line = logLines(t).find((l) => l.msg === 'namespace truncated');
    assert.ok(line, 'logged');
    assert.equal(line.namespace, 'sessions');
    assert.equal(line.admin, 'token:ops', 'who did it: the token name, never its value');
    assert.equal(line.address, '127.0.0.1');
    assert.equal(line.engine, 'embedded');
    assert.equal(typeof line.duration_ms, 'number');
    assert.ok(!t.logs.join('\n').includes(ADMIN_TOKEN), 'no token value in the log');

    const m = await scrape(t.url, AS_ADMIN);
    assert.equal(m.value('firkin_namespace_truncations_total', { namespace: 'sessions', result: 'truncated' }), 1);
    assert.equal(m.value('firkin_namespace_truncations_total', { namespace: 'tokens' }), 0);
    assert.equal(m.value('firkin_storage_operations_total', { namespace: 'sessions', operation: 'truncate', result: 'ok' }), 1);
    assert.equal(m.value('firkin_embedded_entries', { namespace: 'sessions' }), 1, 'the one written since');
    assert.equal(m.value('firkin_embedded_entries', { namespace: 'tokens' }), 5);
  });

  it('answers an admin client only, POST only, and a configured namespace only; refusals remove nothing', async () => {
    const sessions = await store(`${t.url}/sessions/v1/`, 3);
    const anonymous = await truncate(t.url, 'sessions', {});
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.headers['www-authenticate'], 'Bearer realm="firkin"');
    assert.equal((await truncate(t.url, 'sessions', bearer('guessed-token-0a1b2c3d4e5f'))).status, 401);
    const client = await truncate(t.url, 'sessions', bearer(NS_TOKEN));
    assert.equal(client.status, 403, 'a namespace token is no admin token');
    assert.equal(client.json().type, 'urn:firkin:problem:forbidden');
    for (const method of ['GET', 'DELETE', 'PUT']) {
      const wrong = await request(`${t.url}/admin/namespaces/sessions/truncate`, { method, ...AS_ADMIN });
      assert.equal(wrong.status, 405, method);
      assert.equal(wrong.headers.allow, 'POST');
    }
    assert.equal((await truncate(t.url, 'nowhere')).status, 404);
    assert.equal((await request(`${t.url}/admin/namespaces/sessions`, { method: 'POST', ...AS_ADMIN })).status, 404);
    assert.deepEqual(await statuses(sessions), [200, 200, 200]);
    const refused = logLines(t).filter((l) => l.msg === 'authentication failed' && l.endpoint === '/admin/namespaces/sessions/truncate');
    assert.equal(refused.length, 3, 'refusals are failed authentications, logged and throttled as any other');
  });

  it('answers 503 storage-unavailable when the engine cannot truncate, and counts it', async () => {
    const s = await startTestService({ namespaces: NAMESPACES, admin: ADMIN });
    await s.service.engine.close();
    const reply = await truncate(s.url, 'sessions');
    assert.equal(reply.status, 503);
    assert.equal(reply.json().type, 'urn:firkin:problem:storage-unavailable');
    assert.match(String(reply.json().detail), /not truncated/);
    assert.equal(reply.headers['retry-after'], '1');
    const failed = logLines(s).find((l) => String(l.msg).startsWith('namespace truncation failed'));
    assert.equal(failed?.result, 'unavailable');
    assert.equal(failed?.admin, 'token:ops');
    const m = await scrape(s.url, AS_ADMIN);
    assert.equal(m.value('firkin_namespace_truncations_total', { namespace: 'sessions', result: 'unavailable' }), 1);
  });
});

describe('namespace truncation without admin credentials configured', () => {
  it('is refused (403) to everyone, with a warning, even though the other endpoints are open', async () => {
    const t = await startTestService({ namespaces: NAMESPACES.slice(0, 1) });
    const sessions = await store(`${t.url}/sessions/v1/`, 2);
    assert.equal((await request(`${t.url}/admin/top-keys`)).status, 200, 'the admin endpoints are open (Kask)');
    const reply = await truncate(t.url, 'sessions', {});
    assert.equal(reply.status, 403);
    assert.equal(reply.json().type, 'urn:firkin:problem:forbidden');
    assert.match(String(reply.json().detail), /admin\.tokens or admin\.clients/);
    assert.deepEqual(await statuses(sessions), [200, 200], 'nothing removed');
    const warning = logLines(t).find((l) => String(l.msg).startsWith('namespace truncation refused'));
    assert.equal(warning?.namespace, 'sessions');
    assert.equal(warning?.address, '127.0.0.1');
    const m = await scrape(t.url);
    assert.equal(m.value('firkin_namespace_truncations_total', { namespace: 'sessions', result: 'refused' }), 1);
  });

  it('logs a flood of refused truncations boundedly: at most REFUSAL_LINES_PER_SECOND lines a second, the rest counted', async () => {
    const t = await startTestService({ namespaces: NAMESPACES.slice(0, 1) });
    const started = Date.now();
    for (let i = 0; i < 40; i++) assert.equal((await truncate(t.url, 'sessions', {})).status, 403);
    const seconds = Math.ceil((Date.now() - started) / 1000);
    const refusedLines = (): Record<string, unknown>[] => logLines(t).filter((l) => String(l.msg).startsWith('namespace truncation refused'));
    assert.ok(refusedLines().length <= REFUSAL_LINES_PER_SECOND * (seconds + 1), `${refusedLines().length} lines in ${seconds} s`);
    // One more in a fresh second is logged, and counts the ones left out before it.
    await sleep(1100);
    assert.equal((await truncate(t.url, 'sessions', {})).status, 403);
    const lines = refusedLines();
    assert.equal(lines.length + lines.reduce((sum, l) => sum + Number(l.suppressed ?? 0), 0), 41, 'every refusal is a line or counted in one');
    const m = await scrape(t.url);
    assert.equal(m.value('firkin_namespace_truncations_total', { namespace: 'sessions', result: 'refused' }), 41);
  });
});

describe('namespace truncation: where it is served', () => {
  it('on the admin listener only, when it has its own; nowhere with admin.enabled: false', async () => {
    const apart = await startTestService({ namespaces: NAMESPACES.slice(0, 1), admin: { ...ADMIN, listen_address: '127.0.0.1', listen_port: 0 } });
    const sessions = await store(`${apart.url}/sessions/v1/`, 2);
    assert.equal((await truncate(apart.url, 'sessions')).status, 404, 'not on the main listener');
    assert.deepEqual(await statuses(sessions), [200, 200]);
    assert.equal((await truncate(apart.service.adminUrl!, 'sessions')).status, 204);
    assert.deepEqual(await statuses(sessions), [404, 404]);

    const disabled = await startTestService({ namespaces: NAMESPACES.slice(0, 1), admin: { enabled: false } });
    assert.equal((await truncate(disabled.url, 'sessions', {})).status, 404);
  });

  it('logs the admin client certificate that did it (mutual TLS)', async () => {
    const ca = new TestCa();
    const ops = ca.issue('ops', 'oncall', 'URI:spiffe://wiki/ops');
    const other = ca.issue('other', 'mediawiki');
    const server = ca.server();
    const t = await startTestService({
      tls: { cert: server.cert, key: server.key, ca: ca.cert },
      namespaces: NAMESPACES.slice(0, 1),
      admin: { clients: ['uri:spiffe://wiki/ops'] },
    });
    const as = (client: typeof ops): RequestOptions => ({ tls: { ca: pem(ca.cert), cert: pem(client.cert), key: pem(client.key) } });
    assert.equal((await truncate(t.url, 'sessions', as(other))).status, 403);
    assert.equal((await truncate(t.url, 'sessions', as(ops))).status, 204);
    const line = logLines(t).find((l) => l.msg === 'namespace truncated');
    assert.equal(line?.admin, 'cert:uri:spiffe://wiki/ops');
  });
});
