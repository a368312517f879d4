/**
 * Attack: a client certificate that has expired, or that the operator has
 * revoked, used where the TLS handshake is not repeated: a resumed TLS session
 * (TLS 1.3 tickets, TLS 1.2 tickets) and a keep-alive connection opened while it
 * was still good.
 *
 * Proves that the certificate is checked on every request, not only at a full
 * handshake: once it has expired (or is listed in `tls.revoked` and the service
 * got SIGHUP), a fresh handshake, a resumed session and an open keep-alive
 * connection all get no answer and a closed connection, nothing they send is
 * stored, and each refusal is logged (`TLS client certificate refused`, with the
 * address and the cause); while another client's keep-alive connection opened
 * before the SIGHUP goes on being served. Resumption itself stays on: a session
 * of a good certificate resumes.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { RawConnection, request, type RawResponse } from '../helpers/http.js';
import { fingerprint, pem, TestCa, type KeyPair } from '../helpers/pki.js';
import { spawnFirkin } from '../helpers/process.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.js';
import { Checks, checkService, figures, killService, logLines, TEST_TIMEOUT_MS, workerPids } from './harness.js';

const VERSIONS = ['TLSv1.3', 'TLSv1.2'] as const;
/** How long the short-lived certificate is valid after it is made (whole seconds in the certificate). */
const LIFETIME_MS = 3000;

const put = (key: string, value: string): string =>
  `PUT /sessions/v1/${key} HTTP/1.1\r\nHost: firkin\r\nContent-Length: ${Buffer.byteLength(value)}\r\n\r\n${value}`;
const get = (key: string): string => `GET /sessions/v1/${key} HTTP/1.1\r\nHost: firkin\r\n\r\n`;
const show = (rs: readonly RawResponse[], c: RawConnection): string => `${rs.map((r) => r.status).join(',') || 'no answer'}${c.closed ? ', closed' : ', open'}`;

function tlsOf(ca: TestCa, client: KeyPair, version: (typeof VERSIONS)[number], session?: Buffer) {
  return { ca: pem(ca.cert), cert: pem(client.cert), key: pem(client.key), minVersion: version, maxVersion: version, ...(session === undefined ? {} : { session }) };
}

describe('attack: an expired or revoked client certificate on a resumed session or an open connection', () => {
  for (const version of VERSIONS) {
    it(`refuses an expired certificate on a fresh handshake, a resumed session and a keep-alive connection (${version})`, { timeout: TEST_TIMEOUT_MS }, async () => {
      const ca = new TestCa();
      const server = ca.server();
      const renewed = ca.issue('renewed', 'mediawiki');
      const f = await spawnFirkin(tempDir(), {
        embedded: { path: 'data' },
        tls: { cert: server.cert, key: server.key, ca: ca.cert },
        namespaces: [{ name: 'sessions', base_uri: '/sessions/v1/', clients: ['cn:mediawiki'] }],
      });
      const workersBefore = workerPids(f);
      const key = `expiring-cert-key:${version}`;
      // Made once the service is up, so that its few seconds are spent on the test.
      const notAfter = new Date(Date.now() + LIFETIME_MS);
      const short = ca.issue('short', 'mediawiki', undefined, 'clientAuth', { notBefore: new Date(Date.now() - 60_000), notAfter });

      // While the certificate is good: a write, a session to resume, and a connection kept open.
      const first = await RawConnection.open(f.url, { tls: tlsOf(ca, short, version) });
      const stored = await first.send(put(key, 'genuine'));
      await until(() => first.session !== undefined, 'a session to resume', 2000); // TLS 1.3 tickets come after the handshake
      const session = first.session;
      first.close();
      const kept = await RawConnection.open(f.url, { tls: tlsOf(ca, short, version) });
      const keptBefore = await kept.send(get(key));
      const resumedWhileGood = await RawConnection.open(f.url, { tls: tlsOf(ca, short, version, session) });
      const goodResumes = resumedWhileGood.reused;
      const resumedGoodAnswer = await resumedWhileGood.send(get(key));
      resumedWhileGood.close();

      // Expired (certificate times are whole seconds: a second of margin).
      const waitMs = notAfter.getTime() + 1200 - Date.now();
      if (waitMs > 0) await sleep(waitMs);
      const fresh = await RawConnection.open(f.url, { tls: tlsOf(ca, short, version) });
      const freshAnswer = await fresh.send(put(key, 'forged-fresh'));
      const resumed = await RawConnection.open(f.url, { tls: tlsOf(ca, short, version, session) });
      const resumedReused = resumed.reused;
      const resumedAnswer = await resumed.send(put(key, 'forged-resumed'));
      const keptAfter = await kept.send(put(key, 'forged-keep-alive'));
      for (const c of [fresh, resumed, kept]) await c.waitClosed(1000);
      const readBack = await request(`${f.url}/sessions/v1/${key}`, { tls: { ca: pem(ca.cert), cert: pem(renewed.cert), key: pem(renewed.key) } });
      await sleep(200); // the last log lines
      const refusals = logLines(f).filter((l) => l.msg === 'TLS client certificate refused');
      const expired = refusals.filter((l) => l.cause === 'CERT_HAS_EXPIRED');

      figures('expired-certificate', {
        version,
        while_good: `PUT ${show(stored, first)}; keep-alive GET ${keptBefore.map((r) => r.status).join(',')}; resumed ${goodResumes ? 'yes' : 'no'}, GET ${resumedGoodAnswer.map((r) => r.status).join(',') || 'none'}`,
        expired_fresh: show(freshAnswer, fresh),
        expired_resumed: `${resumedReused ? 'resumed' : 'full handshake'}; ${show(resumedAnswer, resumed)}`,
        expired_keep_alive: show(keptAfter, kept),
        read_back: `${readBack.status} ${readBack.body.toString()}`,
        refusal_lines: `${refusals.length} (CERT_HAS_EXPIRED ${expired.length})`,
      });
      const checks = new Checks();
      checks.ok(stored[0]?.status === 201, `the write while the certificate was good answered ${show(stored, first)}`);
      checks.ok(keptBefore[0]?.status === 200, `the keep-alive connection's GET while good answered ${keptBefore[0]?.status}`);
      checks.ok(goodResumes, 'a session of a good certificate did not resume (resumption should stay on)');
      checks.ok(resumedGoodAnswer[0]?.status === 200, `the resumed session while good answered ${resumedGoodAnswer[0]?.status}`);
      checks.ok(freshAnswer.length === 0 && fresh.closed, `a fresh handshake with the expired certificate: ${show(freshAnswer, fresh)} (expected no answer, closed)`);
      checks.ok(resumedAnswer.length === 0 && resumed.closed, `a resumed session of the expired certificate: ${show(resumedAnswer, resumed)} (expected no answer, closed)`);
      checks.ok(keptAfter.length === 0 && kept.closed, `the keep-alive connection after expiry: ${show(keptAfter, kept)} (expected no answer, closed)`);
      checks.ok(readBack.status === 200 && readBack.body.toString() === 'genuine', `the value read back is ${readBack.status} ${JSON.stringify(readBack.body.toString())}, not the genuine one`);
      checks.ok(expired.length >= 2, `${expired.length} "TLS client certificate refused" lines with cause CERT_HAS_EXPIRED (expected one per refused connection)`);
      checks.ok(refusals.every((l) => l.address === '127.0.0.1'), `refusal lines without the client's address: ${JSON.stringify(refusals.map((l) => l.address))}`);
      checkService(checks, f, workersBefore);
      await killService(f);
      checks.done();
    });
  }

  it('refuses a certificate listed in tls.revoked from its next request after SIGHUP, keeping other connections', { timeout: TEST_TIMEOUT_MS }, async () => {
    const ca = new TestCa();
    const server = ca.server();
    const revokedClient = ca.issue('stolen', 'mediawiki');
    const other = ca.issue('other', 'mediawiki');
    const dir = tempDir();
    const revokedFile = join(dir, 'revoked.txt');
    writeFileSync(revokedFile, '# SHA-256 fingerprints of revoked client certificates\n');
    const f = await spawnFirkin(dir, {
      embedded: { path: 'data' },
      tls: { cert: server.cert, key: server.key, ca: ca.cert, revoked: revokedFile },
      namespaces: [{ name: 'sessions', base_uri: '/sessions/v1/', clients: ['cn:mediawiki'] }],
    });
    const workersBefore = workerPids(f);
    const key = 'revoked-cert-key:0001';
    const version = 'TLSv1.3';
    const stolenConn = await RawConnection.open(f.url, { tls: tlsOf(ca, revokedClient, version) });
    const before = await stolenConn.send(put(key, 'genuine'));
    await until(() => stolenConn.session !== undefined, 'a session to resume', 2000);
    const session = stolenConn.session;
    const otherConn = await RawConnection.open(f.url, { tls: tlsOf(ca, other, version) });
    const otherBefore = await otherConn.send(get(key));

    writeFileSync(revokedFile, `# stolen from mw1234, ${new Date().toISOString()}\n${fingerprint(revokedClient.cert)}\n`);
    const reloads = (): number => logLines(f).filter((l) => typeof l.msg === 'string' && /^TLS .*reloaded/.test(l.msg)).length;
    f.child.kill('SIGHUP');
    await until(() => reloads() >= 1, 'the TLS files reloaded after SIGHUP', 5000);

    const stolenAfter = await stolenConn.send(put(key, 'forged-keep-alive'));
    const resumed = await RawConnection.open(f.url, { tls: tlsOf(ca, revokedClient, version, session) });
    const resumedReused = resumed.reused;
    const resumedAnswer = await resumed.send(put(key, 'forged-resumed'));
    const fresh = await RawConnection.open(f.url, { tls: tlsOf(ca, revokedClient, version) });
    const freshAnswer = await fresh.send(put(key, 'forged-fresh'));
    const otherAfter = await otherConn.send(get(key));
    for (const c of [stolenConn, resumed, fresh]) await c.waitClosed(1000);
    await sleep(200);
    const refusals = logLines(f).filter((l) => l.msg === 'TLS client certificate refused' && l.cause === 'CERT_REVOKED');

    figures('revoked-certificate', {
      before: `PUT ${before.map((r) => r.status).join(',')}; other GET ${otherBefore.map((r) => r.status).join(',')}`,
      revoked_keep_alive: show(stolenAfter, stolenConn),
      revoked_resumed: `${resumedReused ? 'resumed' : 'full handshake'}; ${show(resumedAnswer, resumed)}`,
      revoked_fresh: show(freshAnswer, fresh),
      other_keep_alive_after: `${show(otherAfter, otherConn)} ${otherAfter[0]?.body ?? ''}`,
      refusal_lines: refusals.length,
    });
    const checks = new Checks();
    checks.ok(before[0]?.status === 201, `the write before revocation answered ${before[0]?.status}`);
    checks.ok(otherBefore[0]?.status === 200, `the other client's GET before revocation answered ${otherBefore[0]?.status}`);
    checks.ok(stolenAfter.length === 0 && stolenConn.closed, `the revoked certificate's keep-alive connection: ${show(stolenAfter, stolenConn)} (expected no answer, closed)`);
    checks.ok(!resumedReused, 'a session from before the SIGHUP was resumed (the reload renews the ticket keys)');
    checks.ok(resumedAnswer.length === 0 && resumed.closed, `a resumed session of the revoked certificate: ${show(resumedAnswer, resumed)}`);
    checks.ok(freshAnswer.length === 0 && fresh.closed, `a fresh handshake with the revoked certificate: ${show(freshAnswer, fresh)}`);
    checks.ok(otherAfter[0]?.status === 200 && otherAfter[0].body === 'genuine' && !otherConn.closed, `the other client's keep-alive connection after SIGHUP: ${show(otherAfter, otherConn)}`);
    checks.ok(refusals.length >= 3, `${refusals.length} "TLS client certificate refused" lines with cause CERT_REVOKED (expected 3)`);
    otherConn.close();
    checkService(checks, f, workersBefore);
    await killService(f);
    checks.done();
  });
});
