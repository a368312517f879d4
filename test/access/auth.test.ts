/**
 * Authentication beyond a namespace's own lists: failed authentications
 * throttled per source address and per certificate, and the service endpoints
 * behind admin credentials once authentication is configured. Real
 * certificates, real HTTP(S). (Typed certificate identities: identities.test.ts.)
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { version } from '../../src/base/version.js';

const VERSION = version();
import { request, type Reply, type RequestOptions } from '../helpers/http.js';
import { pem, TestCa, type KeyPair } from '../helpers/pki.js';
import { scrape } from '../helpers/prometheus.js';
import { tokenHash } from '../helpers/secrets.js';
import { startTestService, type TestService } from '../helpers/service.js';

type LogLine = Record<string, unknown>;
const logLines = (t: TestService): LogLine[] => t.logs.map((l) => JSON.parse(l) as LogLine);
const bearer = (token: string): RequestOptions => ({ headers: { authorization: `Bearer ${token}` } });

const NS_TOKEN = 'mediawiki-token-0b8e41f2a9c7';
const ADMIN_TOKEN = 'prometheus-token-6a1d93e0c5b2';
const WRONG_TOKEN = 'guessed-token-7d3f9a1b2c4e6f80';
const sessionsWithToken = (extra: Record<string, unknown> = {}) => ({
  name: 'sessions',
  base_uri: '/sessions/v1/',
  tokens: [{ name: 'mediawiki', sha256: tokenHash(NS_TOKEN), operations: ['read'] }],
  ...extra,
});
const ADMIN_TOKENS = [{ name: 'prometheus', sha256: tokenHash(ADMIN_TOKEN) }];

describe('failed authentications', () => {
  it('answer 401 up to the burst, then 429 with Retry-After to every request from that address, valid or not, until it passes', async () => {
    const t = await startTestService({
      namespaces: [sessionsWithToken(), { name: 'open', base_uri: '/open/v1/' }],
      admin: { tokens: ADMIN_TOKENS },
      // One failure allowed back every 4 s: no refill can happen between the 30 requests, however slow the machine.
      failed_auth_limit: { burst: 5, per_second: 0.25 },
    });
    const key = `${t.url}/sessions/v1/enwiki:MWSession:5c2e9b7d1f3a`;
    const answers: Reply[] = [];
    for (let i = 0; i < 30; i++) answers.push(await request(key, bearer(WRONG_TOKEN)));
    assert.deepEqual(answers.map((a) => a.status), [...Array<number>(5).fill(401), ...Array<number>(25).fill(429)]);
    const throttled = answers[29]!;
    assert.equal(throttled.json().type, 'urn:firkin:problem:too-many-auth-failures');
    assert.equal(throttled.json().title, 'Too many failed authentications');
    const retryAfter = Number(throttled.headers['retry-after']);
    assert.ok(retryAfter >= 1 && retryAfter <= 4, `Retry-After: ${retryAfter}`);

    assert.equal((await request(key, bearer(NS_TOKEN))).status, 429, 'a valid token meets the same answer while throttled');
    assert.equal((await request(`${t.url}/metrics`, bearer(ADMIN_TOKEN))).status, 429, 'so does the admin token');
    assert.equal((await request(`${t.url}/open/v1/k`)).status, 404, 'a namespace that needs no credentials is not throttled');
    assert.deepEqual((await request(`${t.url}/healthz`, bearer(ADMIN_TOKEN))).json(), { status: 'ok' }, '/healthz does not look at a token then');

    await sleep(retryAfter * 1000);
    assert.equal((await request(key, bearer(NS_TOKEN))).status, 404, 'valid again after Retry-After');

    const lines = logLines(t);
    const failures = lines.filter((l) => l.msg === 'authentication failed');
    assert.equal(failures.length, 5, 'each 401 logged');
    for (const f of failures) {
      assert.equal(f.level, 'INFO');
      assert.match(String(f.address), /127\.0\.0\.1$/);
      assert.equal(f.namespace, 'sessions');
      assert.equal(f.status, 401);
      assert.equal(f.token, 'unknown');
      assert.equal(typeof f.request_id, 'string');
    }
    const throttleLines = lines.filter((l) => l.msg === 'authentication throttled');
    assert.ok(throttleLines.length >= 1 && throttleLines.length <= 3, `${throttleLines.length} lines for 27 throttled requests: at most one a second`);
    for (const secret of [WRONG_TOKEN, NS_TOKEN, ADMIN_TOKEN]) assert.ok(!t.logs.join('\n').includes(secret), 'no token value in any log line');

    const m = await scrape(t.url, bearer(ADMIN_TOKEN));
    assert.equal(m.value('firkin_auth_refusals_total', { status: '401' }), 5);
    assert.equal(m.value('firkin_auth_refusals_total', { status: '429' }), 27);
  });

  it('are throttled per client certificate (by the certificate itself), from any address, without throttling its address', async () => {
    const ca = new TestCa();
    const server = ca.server();
    const mediawiki = ca.issue('mediawiki', 'mediawiki');
    const stranger = ca.issue('stranger', 'stranger');
    // The same subject as `stranger`, another key: another certificate, another budget.
    const strangerTwin = ca.issue('stranger-twin', 'stranger');
    const t = await startTestService({
      tls: { cert: server.cert, key: server.key, ca: ca.cert },
      namespaces: [{ name: 'sessions', base_uri: '/sessions/v1/', clients: ['cn:mediawiki'] }],
      failed_auth_limit: { burst: 3, per_second: 0.05 }, // no refill within the test
    });
    const from = (localAddress: string, client: KeyPair): Promise<number> =>
      request(`${t.url}/sessions/v1/k`, { localAddress, tls: { ca: pem(ca.cert), cert: pem(client.cert), key: pem(client.key) } }).then((r) => r.status);
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push(await from('127.0.0.2', stranger));
    assert.deepEqual(statuses, [403, 403, 403, 429]);
    assert.equal(await from('127.0.0.3', stranger), 429, 'the certificate is throttled from another address');
    assert.equal(await from('127.0.0.3', mediawiki), 404, 'another certificate from that address is not');
    assert.equal(await from('127.0.0.2', mediawiki), 404, 'nor from the address the failures came from: a certificate is judged by itself');
    assert.equal(await from('127.0.0.2', strangerTwin), 403, 'a certificate with the same subject but another key has a budget of its own');
    const guesses: number[] = [];
    for (let i = 0; i < 4; i++) {
      guesses.push((await request(`${t.url}/sessions/v1/k`, { localAddress: '127.0.0.4', headers: { authorization: `Bearer guess-${i}-0123456789` }, tls: { ca: pem(ca.cert) } })).status);
    }
    assert.deepEqual(guesses, [401, 401, 401, 429], 'tokens (or nothing) are judged by their address');
    assert.equal(await from('127.0.0.4', mediawiki), 404, "an address's guesses do not lock out a certificate there");
    const failure = logLines(t).find((l) => l.msg === 'authentication failed');
    assert.equal(failure?.identity, 'cn:stranger');
    assert.equal(failure?.address, '127.0.0.2');
    assert.equal(failure?.status, 403);
    assert.equal(failure?.token, undefined, 'no token was presented');
  });
});

describe('service endpoints with authentication configured', () => {
  let t: TestService;
  before(async () => {
    t = await startTestService({
      namespaces: [sessionsWithToken()],
      admin: { tokens: ADMIN_TOKENS },
      failed_auth_limit: { burst: 1000 },
    });
  });

  it('/metrics and /admin/top-keys: 401 without a valid token, 403 for a namespace token, 200 for an admin token', async () => {
    for (const path of ['/metrics', '/admin/top-keys']) {
      const anonymous = await request(`${t.url}${path}`);
      assert.equal(anonymous.status, 401, path);
      assert.equal(anonymous.json().type, 'https://www.mediawiki.org/wiki/Kask/errors/not_authorized');
      assert.equal(anonymous.headers['www-authenticate'], 'Bearer realm="firkin"', 'admin tokens exist: a Bearer challenge');
      assert.equal((await request(`${t.url}${path}`, bearer(WRONG_TOKEN))).status, 401, path);
      const forbidden = await request(`${t.url}${path}`, bearer(NS_TOKEN));
      assert.equal(forbidden.status, 403, path);
      assert.equal(forbidden.json().type, 'urn:firkin:problem:forbidden');
      assert.equal((await request(`${t.url}${path}`, bearer(ADMIN_TOKEN))).status, 200, path);
    }
    assert.equal((await request(`${t.url}/metrics`, { method: 'POST', body: 'x' })).status, 401, 'credentials come before the method');
    const refusal = logLines(t).find((l) => l.msg === 'authentication failed' && l.status === 403 && l.endpoint === '/metrics');
    assert.equal(refusal?.token, 'mediawiki', 'the name of the refused token is logged, never its value');
  });

  it('/healthz: just the status, except for an admin client', async () => {
    assert.deepEqual((await request(`${t.url}/healthz`)).json(), { status: 'ok' });
    assert.deepEqual((await request(`${t.url}/healthz`, bearer(NS_TOKEN))).json(), { status: 'ok' });
    const full = (await request(`${t.url}/healthz`, bearer(ADMIN_TOKEN))).json();
    assert.equal(full.version, VERSION);
    assert.equal(full.node_version, process.version);
    assert.equal(full.engine, 'embedded');
    const before = logLines(t).filter((l) => l.msg === 'authentication failed').length;
    assert.deepEqual((await request(`${t.url}/healthz`, bearer(WRONG_TOKEN))).json(), { status: 'ok' });
    assert.equal(logLines(t).filter((l) => l.msg === 'authentication failed').length, before + 1, 'a token valid nowhere counts as a failure');
  });

  it('/openapi: 401 without valid credentials, 200 with any valid token', async () => {
    const anonymous = await request(`${t.url}/openapi`);
    assert.equal(anonymous.status, 401);
    const text = anonymous.body.toString('utf8');
    assert.ok(!text.includes('/sessions/v1/') && !text.includes(VERSION), 'names neither a base URI nor the version');
    assert.equal((await request(`${t.url}/openapi`, bearer(WRONG_TOKEN))).status, 401);
    assert.equal((await request(`${t.url}/openapi`, bearer(NS_TOKEN))).status, 200);
    assert.equal((await request(`${t.url}/openapi`, bearer(ADMIN_TOKEN))).status, 200);
  });

  it('/readyz: open, naming neither the version nor a namespace, nor the engine error', async () => {
    const ready = await request(`${t.url}/readyz`);
    assert.equal(ready.status, 200);
    for (const secret of [VERSION, 'sessions']) assert.ok(!ready.body.toString('utf8').includes(secret), secret);
    const s = await startTestService({ namespaces: [sessionsWithToken()] });
    await s.service.engine.close();
    const down = await request(`${s.url}/readyz`);
    assert.equal(down.status, 503);
    assert.equal(down.json().detail, 'Not ready: the storage engine did not answer');
  });

  it('guards the admin listener too', async () => {
    const s = await startTestService({
      namespaces: [sessionsWithToken()],
      admin: { listen_address: '127.0.0.1', listen_port: 0, tokens: ADMIN_TOKENS },
    });
    const adminUrl = s.service.adminUrl!;
    for (const path of ['/admin/top-keys', '/metrics']) {
      assert.equal((await request(`${adminUrl}${path}`)).status, 401, path);
      assert.equal((await request(`${adminUrl}${path}`, bearer(NS_TOKEN))).status, 403, path);
      assert.equal((await request(`${adminUrl}${path}`, bearer(ADMIN_TOKEN))).status, 200, path);
    }
    assert.deepEqual((await request(`${adminUrl}/healthz`)).json(), { status: 'ok' }, 'status only, as on the main listener');
    assert.equal((await request(`${adminUrl}/healthz`, bearer(ADMIN_TOKEN))).json().version, VERSION);
    assert.equal((await request(`${adminUrl}/readyz`)).status, 200, 'open');
  });

  it('warn at start-up that a scraper now needs a token', () => {
    const warnings = logLines(t).filter((l) => l.level === 'WARNING');
    assert.equal(warnings.length, 1);
    assert.match(String(warnings[0]!.msg), /^admin: \/metrics now needs an admin client \(admin\.clients or admin\.tokens\): a Prometheus scraping without credentials gets 401 .*give it a token of admin\.tokens/);
  });

  it('refuses everyone, with a start-up warning, when no admin client is configured', async () => {
    const s = await startTestService({ namespaces: [sessionsWithToken()] });
    const anonymous = await request(`${s.url}/metrics`);
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.headers['www-authenticate'], undefined, 'no admin tokens: no Bearer challenge');
    assert.equal((await request(`${s.url}/metrics`, bearer(NS_TOKEN))).status, 403);
    const warning = logLines(s).find((l) => l.level === 'WARNING');
    assert.match(String(warning?.msg), /set admin\.clients or admin\.tokens so Prometheus can scrape \/metrics/);
  });
});

describe('service endpoints without authentication', () => {
  it('stay open to everyone, as in Kask, with no warning', async () => {
    const t = await startTestService();
    for (const path of ['/metrics', '/admin/top-keys', '/openapi', '/readyz']) {
      assert.equal((await request(`${t.url}${path}`)).status, 200, path);
      assert.equal((await request(`${t.url}${path}`, bearer(WRONG_TOKEN))).status, 200, `${path} ignores a token`);
    }
    assert.equal((await request(`${t.url}/healthz`)).json().version, VERSION, '/healthz shows its details');
    assert.ok(!logLines(t).some((l) => l.level === 'WARNING'));
  });
});
