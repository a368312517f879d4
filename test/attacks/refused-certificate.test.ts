/**
 * Attack: a client certificate from another CA, with a valid bearer token, and
 * the request sent at once. Over TLS 1.3 the client's certificate, its Finished
 * message and its first request arrive together, so the request is parsed in the
 * same read as the end of the handshake.
 *
 * Proves, on TLS 1.3 and 1.2, that such a connection gets no HTTP answer and is
 * closed before its request is routed: nothing it sends is stored (10 attempts),
 * each connection is logged once as `TLS client certificate refused` with the
 * client's address, and no request of it reaches authentication (no
 * `authentication failed` line, so no shared `ip:unknown` bucket).
 */
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { RawConnection, request } from '../helpers/http.js';
import { pem, TestCa } from '../helpers/pki.js';
import { spawnFirkin } from '../helpers/process.js';
import { tokenHash } from '../helpers/secrets.js';
import { tempDir } from '../helpers/tmp.js';
import { Checks, checkService, figures, killService, logLines, TEST_TIMEOUT_MS, workerPids } from './harness.js';

const ATTEMPTS = 10;
const TOKEN = `refused-cert-app-token-${randomBytes(12).toString('hex')}`;

describe('attack: a certificate of another CA sending its request with the handshake', () => {
  for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
    it(`closes the connection before routing its request, and stores nothing (${version})`, { timeout: TEST_TIMEOUT_MS }, async () => {
      const ca = new TestCa();
      const server = ca.server();
      const foreign = new TestCa('Elsewhere CA').issue('foreign', 'mediawiki');
      const f = await spawnFirkin(tempDir(), {
        embedded: { path: 'data' },
        tls: { cert: server.cert, key: server.key, ca: ca.cert },
        namespaces: [{ name: 'sessions', base_uri: '/sessions/v1/', clients: ['cn:mediawiki'], tokens: [{ name: 'app', sha256: tokenHash(TOKEN) }] }],
      });
      const workersBefore = workerPids(f);
      const keys = Array.from({ length: ATTEMPTS }, (_, i) => `refused-cert-key-${version}:${i}`);
      const outcomes: string[] = [];
      let answered = 0;
      let closed = 0;
      for (const key of keys) {
        const c = await RawConnection.open(f.url, { tls: { ca: pem(ca.cert), cert: pem(foreign.cert), key: pem(foreign.key), minVersion: version, maxVersion: version } });
        const body = 'forged';
        // Written as soon as the client's side of the handshake is done: with TLS 1.3, in the same flight as its Finished.
        const answers = await c.send(
          `PUT /sessions/v1/${key} HTTP/1.1\r\nHost: firkin\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
          1,
          1500,
        );
        if (await c.waitClosed(1000)) closed++;
        answered += answers.length;
        outcomes.push(answers.map((a) => a.status).join(',') || (c.error ?? 'none'));
        c.close();
      }
      const stored: number[] = [];
      for (const key of keys) {
        const r = await request(`${f.url}/sessions/v1/${key}`, { headers: { authorization: `Bearer ${TOKEN}` }, tls: { ca: pem(ca.cert) } });
        stored.push(r.status);
      }
      await sleep(200); // the last log lines
      const lines = logLines(f);
      const refusals = lines.filter((l) => l.msg === 'TLS client certificate refused');
      const authFailures = lines.filter((l) => l.msg === 'authentication failed');

      figures('refused-certificate', {
        version,
        answers: outcomes.join(' '),
        closed_by_server: `${closed}/${ATTEMPTS}`,
        read_back: stored.join(','),
        refusal_lines: `${refusals.length} (addresses ${[...new Set(refusals.map((l) => String(l.address)))].join(',')})`,
        auth_failed_lines: authFailures.length,
      });
      const checks = new Checks();
      checks.ok(answered === 0, `${answered} HTTP answers to connections whose certificate was refused: ${outcomes.join(' ')}`);
      checks.ok(closed === ATTEMPTS, `${ATTEMPTS - closed} of ${ATTEMPTS} such connections still open a second later`);
      checks.ok(stored.every((s) => s === 404), `values read back: ${stored.join(',')} (expected 404 for each: nothing stored)`);
      checks.ok(refusals.length === ATTEMPTS, `${refusals.length} "TLS client certificate refused" lines for ${ATTEMPTS} connections (expected one each)`);
      checks.ok(refusals.every((l) => l.address === '127.0.0.1'), `refusal lines without the client's address: ${JSON.stringify(refusals.map((l) => l.address))}`);
      checks.ok(authFailures.length === 0, `${authFailures.length} "authentication failed" lines: a refused connection's request reached authentication`);
      checkService(checks, f, workersBefore);
      await killService(f);
      checks.done();
    });
  }
});
