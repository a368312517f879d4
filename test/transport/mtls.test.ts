// test-tier: full (slow: 11 s alone on two cores; scripts/test-files.mjs)
/**
 * Mutual TLS and per-namespace authorisation: client certificates signed by
 * tls.ca, identities by subject CN or SAN, operations per client, bearer tokens
 * by hash; 401 without credentials, 403 for the wrong identity or operation,
 * no HTTP at all for a certificate from another CA, and the service endpoints
 * behind an admin client. (Typed identities, the failed-authentication throttle
 * and admin tokens: auth.test.ts.)
 */
import assert from 'node:assert/strict';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { before, describe, it } from 'node:test';
import { request, type Reply } from '../helpers/http.js';
import { pem, TestCa, type KeyPair } from '../helpers/pki.js';
import { tokenHash } from '../helpers/secrets.js';
import { startTestService, type TestService } from '../helpers/service.js';
import { until } from '../helpers/wait.js';

const TOKEN = 'edge-proxy-token-5f1c2a9e';

describe('mutual TLS and per-namespace authorisation', () => {
  let ca: TestCa;
  let t: TestService;
  const clients: Record<string, KeyPair> = {};
  let foreign: KeyPair;

  before(async () => {
    ca = new TestCa();
    clients.mediawiki = ca.issue('mediawiki', 'mediawiki');
    clients.reader = ca.issue('reader', 'some-reader', 'DNS:reader.example');
    clients.spiffe = ca.issue('spiffe', 'workload', 'URI:spiffe://wiki/ns/auth');
    clients.stranger = ca.issue('stranger', 'stranger');
    clients.ops = ca.issue('ops', 'prometheus', 'URI:spiffe://wiki/ops');
    foreign = new TestCa('Elsewhere CA').issue('mediawiki', 'mediawiki');
    const server = ca.server();
    t = await startTestService({
      log_level: 'debug', // every request logged, so the last test has lines to search
      tls: { cert: server.cert, key: server.key, ca: ca.cert },
      namespaces: [
        {
          name: 'sessions',
          base_uri: '/sessions/v1/',
          clients: ['cn:mediawiki', { identity: 'dns:reader.example', operations: ['read'] }, { identity: 'uri:spiffe://wiki/ns/auth', operations: ['read', 'write'] }],
          tokens: [{ name: 'edge', sha256: tokenHash(TOKEN), operations: ['read', 'write'] }],
        },
        { name: 'open', base_uri: '/open/v1/' },
      ],
      admin: { clients: ['uri:spiffe://wiki/ops'] },
      // This file refuses many requests on purpose, all from 127.0.0.1: no throttling here.
      failed_auth_limit: { burst: 1000 },
    });
  });

  function call(path: string, options: { method?: string; client?: KeyPair; body?: string; headers?: Record<string, string> } = {}): Promise<Reply> {
    const client = options.client ? { cert: pem(options.client.cert), key: pem(options.client.key) } : {};
    return request(`${t.url}${path}`, { method: options.method, body: options.body, headers: options.headers, tls: { ca: pem(ca.cert), ...client } });
  }

  it('lets a listed client (by subject CN) read, write and delete', async () => {
    const c = clients.mediawiki;
    assert.equal((await call('/sessions/v1/alpha', { method: 'PUT', body: 'v', client: c })).status, 201);
    assert.equal((await call('/sessions/v1/alpha', { client: c })).body.toString(), 'v');
    assert.equal((await call('/sessions/v1/alpha', { method: 'DELETE', client: c })).status, 204);
  });

  it('limits a client to its operations (identity from a SAN DNS name or URI)', async () => {
    assert.equal((await call('/sessions/v1/beta', { method: 'PUT', body: 'v', client: clients.spiffe })).status, 201);
    assert.equal((await call('/sessions/v1/beta', { client: clients.reader })).status, 200);
    const write = await call('/sessions/v1/beta', { method: 'PUT', body: 'x', client: clients.reader });
    assert.equal(write.status, 403);
    assert.equal(write.json().type, 'urn:firkin:problem:forbidden');
    assert.equal((await call('/sessions/v1/beta', { method: 'DELETE', client: clients.spiffe })).status, 403);
  });

  it('needs the write right to touch (PATCH): a read-only client gets 403', async () => {
    assert.equal((await call('/sessions/v1/epsilon', { method: 'PUT', body: 'v', client: clients.spiffe })).status, 201);
    const refused = await call('/sessions/v1/epsilon', { method: 'PATCH', client: clients.reader });
    assert.equal(refused.status, 403);
    assert.equal(refused.json().type, 'urn:firkin:problem:forbidden');
    assert.equal((await call('/sessions/v1/epsilon', { method: 'PATCH', client: clients.spiffe })).status, 204);
    assert.equal((await call('/sessions/v1/epsilon', { method: 'PATCH', headers: { authorization: `Bearer ${TOKEN}` } })).status, 204);
    assert.equal((await call('/sessions/v1/epsilon', { method: 'PATCH' })).status, 401);
  });

  it('answers 403 to a client of the right CA that is not listed, which may still use an open namespace', async () => {
    assert.equal((await call('/sessions/v1/beta', { client: clients.stranger })).status, 403);
    assert.equal((await call('/open/v1/gamma', { method: 'PUT', body: 'v', client: clients.stranger })).status, 201);
  });

  it('answers 401 without a certificate, except on liveness and readiness; metrics and admin need an admin client', async () => {
    const denied = await call('/sessions/v1/beta');
    assert.equal(denied.status, 401);
    assert.equal(denied.json().type, 'https://www.mediawiki.org/wiki/Kask/errors/not_authorized');
    assert.equal(denied.headers['www-authenticate'], 'Bearer realm="firkin"');
    assert.equal((await call('/open/v1/gamma')).status, 401, 'with mutual TLS, open namespaces still need a certificate');
    for (const path of ['/admin/top-keys', '/metrics']) {
      const anonymous = await call(path);
      assert.equal(anonymous.status, 401, path);
      assert.equal(anonymous.headers['www-authenticate'], undefined, 'no admin tokens: no Bearer challenge');
      assert.equal((await call(path, { client: clients.stranger })).status, 403, `${path}: a certificate of the CA that is not an admin client`);
      assert.equal((await call(path, { client: clients.mediawiki })).status, 403, `${path}: a namespace client`);
      assert.equal((await call(path, { client: clients.ops })).status, 200, `${path}: the admin client`);
    }
    for (const path of ['/healthz', '/readyz']) assert.equal((await call(path)).status, 200, path);
  });

  it('refuses a certificate signed by another CA before any HTTP', async () => {
    await assert.rejects(call('/sessions/v1/beta', { client: foreign }), /ECONNRESET|socket hang up|EPIPE/);
    await assert.rejects(call('/healthz', { client: foreign }), /ECONNRESET|socket hang up|EPIPE/);
  });

  it('refuses TLS renegotiation, so a connection cannot change its certificate', async () => {
    const c = clients.reader!;
    const { hostname, port } = new URL(t.url);
    const socket = tlsConnect({ host: hostname, port: Number(port), ca: pem(ca.cert), cert: pem(c.cert), key: pem(c.key), maxVersion: 'TLSv1.2' });
    await new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', resolve);
      socket.once('error', reject);
    });
    const outcome = await new Promise<Error | null>((resolve) => {
      socket.on('error', (err) => resolve(err));
      const started = socket.renegotiate({ rejectUnauthorized: true }, (err) => resolve(err ?? null));
      if (!started) resolve(new Error('renegotiation not started'));
    });
    socket.destroy();
    assert.ok(outcome instanceof Error, 'the server refuses to renegotiate');
  });

  it('drops a connection that never completes its TLS handshake, freeing its slot', async () => {
    const server = ca.server('slots');
    const s = await startTestService({ tls: { cert: server.cert, key: server.key, ca: ca.cert }, max_connections: 2 });
    const { hostname, port } = new URL(s.url);
    const silent = await Promise.all([1, 2].map(() => new Promise<Socket>((resolve) => {
      const sock = netConnect(Number(port), hostname, () => resolve(sock));
      sock.on('error', () => undefined);
    })));
    const closed = silent.map((sock) => new Promise<void>((resolve) => sock.on('close', () => resolve())));
    const started = Date.now();
    await Promise.all(closed);
    const took = Date.now() - started;
    assert.ok(took > 8000 && took < 15_000, `closed by the server after ${took} ms`);
    const reply = (await request(`${s.url}/healthz`, { tls: { ca: pem(ca.cert) } })).status;
    assert.equal(reply, 200, 'the slots are free again');
  });

  it('takes a bearer token by its hash, for its operations only', async () => {
    const auth = { authorization: `Bearer ${TOKEN}` };
    assert.equal((await call('/sessions/v1/delta', { method: 'PUT', body: 'v', headers: auth })).status, 201);
    assert.equal((await call('/sessions/v1/delta', { headers: auth })).body.toString(), 'v');
    assert.equal((await call('/sessions/v1/delta', { method: 'DELETE', headers: auth })).status, 403);
    assert.equal((await call('/sessions/v1/delta', { headers: { authorization: 'Bearer not-the-token' } })).status, 401);
    assert.equal((await call('/sessions/v1/delta', { headers: { authorization: `Basic ${TOKEN}` } })).status, 401);
    // A token does not open another namespace.
    assert.equal((await call('/open/v1/delta', { headers: auth })).status, 401);
  });

  it('never echoes a token or a key in an answer or a log line', async () => {
    const secretKey = 'enwiki:MWSession:4f2d8a0c1b3e5d7f9a1c3e5b7d9f1a3c';
    const answer = await call(`/sessions/v1/${encodeURIComponent(secretKey)}`, { headers: { authorization: `Bearer ${TOKEN}x` } });
    assert.equal(answer.status, 401);
    const logged = (): boolean => t.logs.some((l) => JSON.parse(l).msg === 'request' && JSON.parse(l).status === 401);
    await until(logged, 'the refused request logged', 1000);
    const refusal = t.logs.map((l) => JSON.parse(l)).find((l) => l.msg === 'authentication failed' && l.request_id === answer.headers['x-request-id']);
    assert.equal(refusal?.token, 'unknown', 'an unknown token is logged as such');
    const everything = [JSON.stringify(answer.headers), answer.body.toString(), ...t.logs].join('\n');
    for (const secret of [TOKEN, secretKey, encodeURIComponent(secretKey)]) assert.ok(!everything.includes(secret), `${secret} echoed`);
  });
});
