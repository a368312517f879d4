/**
 * FirkinClient over HTTPS with bearer tokens, and with client certificates
 * (mutual TLS), against a real `firkin serve`: access granted, and the typed
 * FirkinUnauthorisedError for 401 and 403.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { FirkinClient, FirkinUnauthorisedError } from '../src/index.js';
import { startFirkin, TestPki } from './helpers/firkin.js';

const pki = new TestPki();
const server = pki.issue('server', 'serverAuth');
const ca = readFileSync(pki.ca);
const sha256 = (token: string): string => createHash('sha256').update(token).digest('hex');
const clients: FirkinClient[] = [];
const client = (options: Omit<ConstructorParameters<typeof FirkinClient>[0], 'baseUrl'>, baseUrl: string): FirkinClient => {
  const c = new FirkinClient({ baseUrl, ...options });
  clients.push(c);
  return c;
};
after(() => clients.forEach((c) => c.close()));

const unauthorised = (status: number) => (err: unknown) => {
  assert.ok(err instanceof FirkinUnauthorisedError, String(err));
  assert.equal(err.status, status);
  return true;
};

describe('FirkinClient over HTTPS with a bearer token', () => {
  const token = randomBytes(32).toString('base64url');
  const readerToken = randomBytes(32).toString('base64url');
  let base: string;
  before(async () => {
    const { origin } = await startFirkin({
      tls: { cert: server.cert, key: server.key },
      namespaces: [
        {
          name: 'sessions',
          base_uri: '/sessions/v1/',
          tokens: [
            { name: 'app', sha256: sha256(token), operations: ['read', 'write', 'delete'] },
            { name: 'reader', sha256: sha256(readerToken), operations: ['read'] },
          ],
        },
      ],
    });
    assert.match(origin, /^https:/);
    base = `${origin}/sessions/v1/`;
  });

  it('reads, writes and deletes with its token', async () => {
    const app = client({ token, tls: { ca } }, base);
    const { etag } = await app.set('token key', 'v');
    assert.equal((await app.get('token key'))?.etag, etag);
    await app.delete('token key');
    assert.equal(await app.get('token key'), undefined);
  });

  it('gets FirkinUnauthorisedError 401 without a token or with an unknown one, 403 for an operation its token lacks', async () => {
    await assert.rejects(client({ tls: { ca } }, base).get('k'), unauthorised(401));
    await assert.rejects(client({ token: 'not-a-token', tls: { ca } }, base).get('k'), (err: unknown) => {
      unauthorised(401)(err);
      assert.ok(!(err as Error).message.includes('not-a-token'), 'the token stays out of the message');
      return true;
    });
    const reader = client({ token: readerToken, tls: { ca } }, base);
    assert.equal(await reader.get('k'), undefined);
    await assert.rejects(reader.set('k', 'v'), unauthorised(403));
  });

  it('refuses tls options with an http: URL', () => {
    assert.throws(() => new FirkinClient({ baseUrl: 'http://127.0.0.1:1/s/', tls: { ca } }), TypeError);
  });
});

describe('FirkinClient with a client certificate (mutual TLS)', () => {
  let base: string;
  before(async () => {
    const { origin } = await startFirkin({
      tls: { cert: server.cert, key: server.key, ca: pki.ca },
      namespaces: [{ name: 'sessions', base_uri: '/sessions/v1/', clients: ['cn:app', { identity: 'cn:reader', operations: ['read'] }] }],
    });
    base = `${origin}/sessions/v1/`;
  });

  it('reads and writes with a listed certificate, and gets 403 for an operation its identity lacks', async () => {
    const appCert = pki.issue('app', 'clientAuth');
    const app = client({ tls: { ca, cert: readFileSync(appCert.cert), key: readFileSync(appCert.key) } }, base);
    await app.set('mtls key', Buffer.from('v'));
    assert.equal((await app.get('mtls key'))?.value.toString(), 'v');
    const readerCert = pki.issue('reader', 'clientAuth');
    const reader = client({ tls: { ca, cert: readFileSync(readerCert.cert), key: readFileSync(readerCert.key) } }, base);
    assert.equal((await reader.get('mtls key'))?.value.toString(), 'v');
    await assert.rejects(reader.delete('mtls key'), unauthorised(403));
  });
});
