/**
 * Authentication beyond a namespace's own lists: failed authentications
 * throttled per source address and per certificate. Real certificates, real
 * HTTP(S). (Typed certificate identities: identities.test.ts.)
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { request, type Reply, type RequestOptions } from '../helpers/http.js';
import { pem, TestCa, type KeyPair } from '../helpers/pki.js';
import { scrape } from '../helpers/prometheus.js';
import { tokenHash } from '../helpers/secrets.js';
import { startTestService, type TestService } from '../helpers/service.js';

type LogLine = Record<string, unknown>;
const logLines = (t: TestService): LogLine[] => t.logs.map((l) => JSON.parse(l) as LogLine);
const bearer = (token: string): RequestOptions => ({ headers: { authorization: `Bearer ${token}` } });

const NS_TOKEN = 'mediawiki-token-0b8e41f2a9c7';
const WRONG_TOKEN = 'guessed-token-7d3f9a1b2c4e6f80';
const sessionsWithToken = (extra: Record<string, unknown> = {}) => ({
  name: 'sessions',
  base_uri: '/sessions/v1/',
  tokens: [{ name: 'mediawiki', sha256: tokenHash(NS_TOKEN), operations: ['read'] }],
  ...extra,
});

describe('failed authentications', () => {
  it('answer 401 up to the burst, then 429 with Retry-After to every request from that address, valid or not, until it passes', async () => {
    const t = await startTestService({
      namespaces: [sessionsWithToken(), { name: 'open', base_uri: '/open/v1/' }],
      failed_auth_limit: { burst: 5, per_second: 1 },
    });
    const key = `${t.url}/sessions/v1/enwiki:MWSession:5c2e9b7d1f3a`;
    const answers: Reply[] = [];
    for (let i = 0; i < 30; i++) answers.push(await request(key, bearer(WRONG_TOKEN)));
    assert.deepEqual(answers.map((a) => a.status), [...Array<number>(5).fill(401), ...Array<number>(25).fill(429)]);
    const throttled = answers[29]!;
    assert.equal(throttled.json().type, 'urn:firkin:problem:too-many-auth-failures');
    assert.equal(throttled.json().title, 'Too many failed authentications');
    const retryAfter = Number(throttled.headers['retry-after']);
    assert.ok(retryAfter >= 1 && retryAfter <= 2, `Retry-After: ${retryAfter}`);

    assert.equal((await request(key, bearer(NS_TOKEN))).status, 429, 'a valid token meets the same answer while throttled');
    assert.equal((await request(`${t.url}/open/v1/k`)).status, 404, 'a namespace that needs no credentials is not throttled');

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
    assert.ok(throttleLines.length >= 1 && throttleLines.length <= 3, `${throttleLines.length} lines for 26 throttled requests: at most one a second`);
    for (const secret of [WRONG_TOKEN, NS_TOKEN]) assert.ok(!t.logs.join('\n').includes(secret), 'no token value in any log line');

    const m = await scrape(t.url);
    assert.equal(m.value('firkin_auth_refusals_total', { status: '401' }), 5);
    assert.equal(m.value('firkin_auth_refusals_total', { status: '429' }), 26);
  });

  it('are throttled per client certificate too, from any address', async () => {
    const ca = new TestCa();
    const server = ca.server();
    const mediawiki = ca.issue('mediawiki', 'mediawiki');
    const stranger = ca.issue('stranger', 'stranger');
    const t = await startTestService({
      tls: { cert: server.cert, key: server.key, ca: ca.cert },
      namespaces: [{ name: 'sessions', base_uri: '/sessions/v1/', clients: ['cn:mediawiki'] }],
      failed_auth_limit: { burst: 3, per_second: 0.5 },
    });
    const from = (localAddress: string, client: KeyPair): Promise<number> =>
      request(`${t.url}/sessions/v1/k`, { localAddress, tls: { ca: pem(ca.cert), cert: pem(client.cert), key: pem(client.key) } }).then((r) => r.status);
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push(await from('127.0.0.2', stranger));
    assert.deepEqual(statuses, [403, 403, 403, 429]);
    assert.equal(await from('127.0.0.3', stranger), 429, 'the certificate is throttled from another address');
    assert.equal(await from('127.0.0.3', mediawiki), 404, 'another certificate from that address is not');
    assert.equal(await from('127.0.0.2', mediawiki), 429, 'the throttled address is, whatever its certificate');
    const failure = logLines(t).find((l) => l.msg === 'authentication failed');
    assert.equal(failure?.identity, 'cn:stranger');
    assert.equal(failure?.address, '127.0.0.2');
    assert.equal(failure?.status, 403);
    assert.equal(failure?.token, undefined, 'no token was presented');
  });
});
