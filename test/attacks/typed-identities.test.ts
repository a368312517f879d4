/**
 * Attack: a certificate that names the right identity in the wrong place. The
 * namespace admits `uri:spiffe://wiki/mediawiki`, a typed identity: a SAN URI.
 * A certificate whose subject CN is the string "spiffe://wiki/mediawiki" (no SAN;
 * anyone the CA issues a CN to can ask for that CN) must not pass for it.
 *
 * Proves that typed client identities match only their own kind: the CN-only
 * certificate is refused 403, the certificate with SAN URI:spiffe://wiki/mediawiki
 * is served (200/404, and a write 201).
 */
import { describe, it } from 'node:test';
import { request } from '../helpers/http.js';
import { pem, TestCa, type KeyPair } from '../helpers/pki.js';
import { spawnFirkin } from '../helpers/process.js';
import { tempDir } from '../helpers/tmp.js';
import { Checks, checkService, figures, killService, TEST_TIMEOUT_MS, workerPids } from './harness.js';

const IDENTITY = 'spiffe://wiki/mediawiki';

describe('attack: a certificate identity of the wrong kind', () => {
  it(`admits uri:${IDENTITY} by SAN URI only, not by a subject CN that reads the same`, { timeout: TEST_TIMEOUT_MS }, async () => {
    const ca = new TestCa();
    const server = ca.server();
    const cnOnly = ca.issue('cn-only', IDENTITY);
    const sanUri = ca.issue('san-uri', 'mediawiki-workload', `URI:${IDENTITY}`);
    const f = await spawnFirkin(tempDir(), {
      embedded: { path: 'data' },
      tls: { cert: server.cert, key: server.key, ca: ca.cert },
      namespaces: [{ name: 'sessions', base_uri: '/sessions/v1/', clients: [`uri:${IDENTITY}`] }],
    });
    const workersBefore = workerPids(f);
    const keyUrl = `${f.url}/sessions/v1/typed-identity-key:0001`;
    const as = (client: KeyPair, method = 'GET', body?: string): Promise<number> =>
      request(keyUrl, { method, body, tls: { ca: pem(ca.cert), cert: pem(client.cert), key: pem(client.key) } }).then(
        (r) => r.status,
        () => 0,
      );
    const cnRead = await as(cnOnly);
    const cnWrite = await as(cnOnly, 'PUT', 'forged');
    const sanRead = await as(sanUri);
    const sanWrite = await as(sanUri, 'PUT', 'genuine');
    const sanReadBack = await as(sanUri);

    figures('typed-identities', {
      clients: `uri:${IDENTITY}`,
      cn_only: `GET ${cnRead} PUT ${cnWrite}`,
      san_uri: `GET ${sanRead} PUT ${sanWrite} GET ${sanReadBack}`,
    });
    const checks = new Checks();
    checks.ok(cnRead === 403, `a certificate with CN=${IDENTITY} and no SAN: GET answered ${cnRead}, not 403`);
    checks.ok(cnWrite === 403, `a certificate with CN=${IDENTITY} and no SAN: PUT answered ${cnWrite}, not 403`);
    checks.ok([200, 404].includes(sanRead), `a certificate with SAN URI:${IDENTITY}: GET answered ${sanRead}, not 200/404`);
    checks.ok(sanWrite === 201, `a certificate with SAN URI:${IDENTITY}: PUT answered ${sanWrite}, not 201`);
    checks.ok(sanReadBack === 200, `a certificate with SAN URI:${IDENTITY}: GET after its PUT answered ${sanReadBack}, not 200`);
    checkService(checks, f, workersBefore);
    await killService(f);
    checks.done();
  });
});
