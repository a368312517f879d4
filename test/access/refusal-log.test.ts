/**
 * The refusal log over real HTTPS with mutual TLS: every 401, 403 and refused
 * client certificate is logged at INFO with who (typed identity or token name),
 * from where, what was refused and the request ID; never a token or a key
 * (test/helpers/secrets.ts checks every log of this file for the tokens and keys
 * sent); at most REFUSAL_LINES_PER_SECOND lines a second per cause; and debug
 * request lines name the client too.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { isCertificateError, REFUSAL_LINES_PER_SECOND } from '../../src/access/refusal-log.js';
import { request, type Reply } from '../helpers/http.js';
import { pem, TestCa, type KeyPair } from '../helpers/pki.js';
import { tokenHash } from '../helpers/secrets.js';
import { startTestService, type TestService } from '../helpers/service.js';
import { until } from '../helpers/wait.js';

type LogLine = Record<string, unknown>;

const READER_TOKEN = 'reader-token-3c9e1f7a2b5d';
const WRONG_TOKEN = 'wrong-token-8a2f6c0e4d1b9735';
const KEY = 'enwiki:MWSession:7e3a9c1f5b2d8e4a';

describe('refusal log', () => {
  let ca: TestCa;
  let t: TestService;
  const certs: Record<string, KeyPair> = {};

  before(async () => {
    ca = new TestCa();
    certs.mediawiki = ca.issue('mediawiki', 'mediawiki');
    certs.reader = ca.issue('reader', 'reader', 'DNS:Reader.Example');
    certs.workload = ca.issue('workload', 'workload', 'URI:spiffe://wiki/workload');
    certs.foreign = new TestCa('Elsewhere CA').issue('impostor', 'mediawiki');
    const server = ca.server();
    t = await startTestService({
      log_level: 'debug',
      tls: { cert: server.cert, key: server.key, ca: ca.cert },
      namespaces: [
        {
          name: 'sessions',
          base_uri: '/sessions/v1/',
          clients: ['cn:mediawiki', { identity: 'dns:reader.example', operations: ['read'] }],
          tokens: [{ name: 'edge-reader', sha256: tokenHash(READER_TOKEN), operations: ['read'] }],
        },
        { name: 'flood', base_uri: '/flood/v1/', clients: ['cn:mediawiki'] },
      ],
      admin: { clients: ['cn:mediawiki'] },
      failed_auth_limit: { burst: 10_000 }, // this file refuses many requests on purpose
    });
  });

  const lines = (): LogLine[] => t.logs.map((l) => JSON.parse(l) as LogLine);
  const requestId = (): string => `refusal-${Math.random().toString(36).slice(2)}`;

  function call(path: string, options: { method?: string; client?: KeyPair; token?: string; id?: string; body?: string } = {}): Promise<Reply> {
    const client = options.client ? { cert: pem(options.client.cert), key: pem(options.client.key) } : {};
    const headers: Record<string, string> = {};
    if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
    if (options.id !== undefined) headers['x-request-id'] = options.id;
    return request(`${t.url}${path}`, { method: options.method, body: options.body, headers, tls: { ca: pem(ca.cert), ...client } });
  }

  /** The one line with this message and request ID. */
  function lineOf(msg: string, id: string): LogLine {
    const found = lines().filter((l) => l.msg === msg && l.request_id === id);
    assert.equal(found.length, 1, `one "${msg}" line for ${id}`);
    return found[0]!;
  }

  it('logs a 401 and a 403 in a namespace at INFO, with the token name, address, namespace, operation and request ID', async () => {
    const unknown = requestId();
    assert.equal((await call(`/sessions/v1/${encodeURIComponent(KEY)}`, { token: WRONG_TOKEN, id: unknown })).status, 401);
    const line = lineOf('authentication failed', unknown);
    assert.equal(line.level, 'INFO');
    assert.equal(line.status, 401);
    assert.equal(line.address, '127.0.0.1');
    assert.equal(line.namespace, 'sessions');
    assert.equal(line.operation, 'read');
    assert.equal(line.token, 'unknown', 'a token configured nowhere');
    assert.equal(line.identity, undefined, 'no certificate');

    const forbidden = requestId();
    assert.equal((await call(`/sessions/v1/${encodeURIComponent(KEY)}`, { method: 'DELETE', token: READER_TOKEN, id: forbidden })).status, 403);
    const refused = lineOf('authentication failed', forbidden);
    assert.equal(refused.status, 403);
    assert.equal(refused.operation, 'delete');
    assert.equal(refused.token, 'edge-reader', 'the name of the token, never its value');
  });

  it('names a certificate client by its first typed identity, for namespaces and service endpoints alike', async () => {
    const write = requestId();
    assert.equal((await call('/sessions/v1/k', { method: 'PUT', body: 'v', client: certs.reader, id: write })).status, 403);
    assert.deepEqual(
      pick(lineOf('authentication failed', write), ['status', 'identity', 'namespace', 'operation', 'token']),
      { status: 403, identity: 'cn:reader', namespace: 'sessions', operation: 'write', token: undefined },
      'the first typed identity: the subject CN',
    );
    const stranger = requestId();
    assert.equal((await call('/sessions/v1/k', { client: certs.workload, id: stranger })).status, 403);
    assert.equal(lineOf('authentication failed', stranger).identity, 'cn:workload');
    const metrics = requestId();
    assert.equal((await call('/metrics', { client: certs.workload, id: metrics })).status, 403);
    assert.deepEqual(pick(lineOf('authentication failed', metrics), ['status', 'identity', 'endpoint', 'address']), {
      status: 403,
      identity: 'cn:workload',
      endpoint: '/metrics',
      address: '127.0.0.1',
    });
    const anonymous = requestId();
    assert.equal((await call('/admin/top-keys', { id: anonymous })).status, 401);
    assert.deepEqual(pick(lineOf('authentication failed', anonymous), ['level', 'status', 'endpoint']), { level: 'INFO', status: 401, endpoint: '/admin/top-keys' });
  });

  it('logs a client certificate refused at the handshake with the identity it claims, and other handshake failures at debug only', async () => {
    await assert.rejects(call('/sessions/v1/k', { client: certs.foreign }), /ECONNRESET|socket hang up|EPIPE/);
    await until(() => lines().some((l) => l.msg === 'TLS client certificate refused'), 'the refused certificate logged');
    const refused = lines().filter((l) => l.msg === 'TLS client certificate refused');
    assert.equal(refused.length, 1);
    assert.deepEqual(pick(refused[0]!, ['level', 'address', 'identity', 'verified']), { level: 'INFO', address: '127.0.0.1', identity: 'cn:mediawiki', verified: false });
    assert.match(String(refused[0]!.cause), /^[A-Z_]+$/, 'the verification error, e.g. UNABLE_TO_VERIFY_LEAF_SIGNATURE');

    // Plain HTTP on the TLS port: not about a certificate.
    const { hostname, port } = new URL(t.url);
    const plain = netConnect(Number(port), hostname, () => plain.write('GET /healthz HTTP/1.1\r\n\r\n'));
    plain.on('error', () => undefined);
    await until(() => lines().some((l) => l.msg === 'TLS handshake failed'), 'the failed handshake logged');
    plain.destroy();
    const failed = lines().find((l) => l.msg === 'TLS handshake failed')!;
    assert.deepEqual(pick(failed, ['level', 'cause', 'address']), { level: 'DEBUG', cause: 'ERR_SSL_HTTP_REQUEST', address: '127.0.0.1' });
    assert.equal(lines().filter((l) => l.msg === 'TLS client certificate refused').length, 1, 'no INFO line for it');
  });

  it('tells OpenSSL errors about a client certificate from the rest, and from the client refusing ours', () => {
    for (const code of ['ERR_SSL_BAD_SIGNATURE', 'ERR_SSL_CERTIFICATE_VERIFY_FAILED', 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE']) assert.ok(isCertificateError(code), code);
    for (const code of ['ERR_SSL_HTTP_REQUEST', 'ERR_TLS_HANDSHAKE_TIMEOUT', 'ECONNRESET', 'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE', undefined]) {
      assert.ok(!isCertificateError(code), String(code));
    }
  });

  it('carries the address and identity (and a token name) on debug request lines', async () => {
    const id = requestId();
    assert.equal((await call(`/sessions/v1/${encodeURIComponent(KEY)}`, { client: certs.mediawiki, id })).status, 404);
    const byToken = requestId();
    assert.equal((await call(`/sessions/v1/${encodeURIComponent(KEY)}`, { token: READER_TOKEN, id: byToken })).status, 404);
    await until(() => lines().filter((l) => l.msg === 'request' && (l.request_id === id || l.request_id === byToken)).length === 2, 'both request lines');
    assert.deepEqual(pick(lineOf('request', id), ['level', 'address', 'identity', 'token', 'namespace']), {
      level: 'DEBUG',
      address: '127.0.0.1',
      identity: 'cn:mediawiki',
      token: undefined,
      namespace: 'sessions',
    });
    assert.deepEqual(pick(lineOf('request', byToken), ['address', 'identity', 'token']), { address: '127.0.0.1', identity: undefined, token: 'edge-reader' });
  });

  it(`writes at most ${REFUSAL_LINES_PER_SECOND} lines a second per cause, then says how many it left out; other causes are still logged`, async () => {
    const flood = 3 * REFUSAL_LINES_PER_SECOND;
    const before = lines().length;
    const started = Date.now();
    // All at once, so that they fall within one or two intervals however slow the machine.
    const answers = await Promise.all(Array.from({ length: flood }, () => call('/flood/v1/k', { token: WRONG_TOKEN })));
    assert.deepEqual(new Set(answers.map((a) => a.status)), new Set([401]));
    const elapsedS = (Date.now() - started) / 1000;
    const other = requestId();
    assert.equal((await call('/sessions/v1/k', { method: 'PUT', body: 'v', client: certs.reader, id: other })).status, 403);
    lineOf('authentication failed', other); // another cause: logged
    await sleep(1100); // the next interval
    assert.equal((await call('/flood/v1/k', { token: WRONG_TOKEN })).status, 401);

    const logged = lines().slice(before).filter((l) => l.msg === 'authentication failed' && l.namespace === 'flood');
    const windows = Math.ceil(elapsedS) + 1;
    assert.ok(logged.length <= REFUSAL_LINES_PER_SECOND * windows, `${logged.length} lines in ${elapsedS.toFixed(2)} s + the last one`);
    assert.ok(logged.length < flood + 1, 'some lines were left out');
    const represented = logged.reduce((sum, l) => sum + 1 + Number(l.suppressed ?? 0), 0);
    assert.equal(represented, flood + 1, 'every refusal is a line or counted in the next line\'s suppressed');
    assert.ok(Number(logged.at(-1)!.suppressed) > 0, 'the line after the pause counts those left out');
    const security = readFileSync(fileURLToPath(new URL('../../../docs/security.md', import.meta.url)), 'utf8');
    assert.ok(security.includes(`at most ${REFUSAL_LINES_PER_SECOND} \`authentication failed\` lines a second`), 'docs/security.md states the bound');
  });
});

function pick(line: LogLine, fields: readonly string[]): LogLine {
  return Object.fromEntries(fields.map((f) => [f, line[f]]));
}
