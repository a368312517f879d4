/**
 * FirkinClient over HTTPS with bearer tokens, and with client certificates
 * (mutual TLS), against a real `firkin serve`: access granted, and the typed
 * FirkinUnauthorisedError for 401 and 403. And TLS failures (a server certificate
 * the client does not trust, an https: URL for a plain listener) thrown at once as
 * FirkinTlsError, not retried until timeoutMs.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { FirkinClient, FirkinTlsError, FirkinUnauthorisedError } from '../src/index.js';
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

describe('FirkinClient with a client certificate the server refuses', () => {
  let base: string;
  const foreign = new TestPki().issue('app', 'clientAuth'); // right name, another CA
  before(async () => {
    const { origin } = await startFirkin({
      tls: { cert: server.cert, key: server.key, ca: pki.ca },
      namespaces: [{ name: 'sessions', base_uri: '/sessions/v1/', clients: ['cn:app'] }],
    });
    base = `${origin}/sessions/v1/`;
  });
  const refused = (err: unknown): boolean => {
    assert.ok(err instanceof FirkinTlsError, String(err));
    assert.equal(err.code, 'CLIENT_CERTIFICATE_REFUSED');
    assert.match(err.message, /refused the client certificate/);
    return true;
  };

  it('throws FirkinTlsError at once (TLS 1.3: the server closes right after the handshake), for a get and an add, not retried until timeoutMs', async () => {
    const c = client({ timeoutMs: 10_000, tls: { ca, cert: readFileSync(foreign.cert), key: readFileSync(foreign.key) } }, base);
    for (const call of [() => c.get('k'), () => c.add('k', 'v')]) {
      const started = Date.now();
      await assert.rejects(call(), refused);
      assert.ok(Date.now() - started < 2000, `thrown after ${Date.now() - started} ms`);
    }
  });

  it('throws FirkinTlsError at once on TLS 1.2 too (the server closes before the handshake ends), through an agent of its own', async () => {
    const agent = new https.Agent({ keepAlive: true, maxVersion: 'TLSv1.2', ca, cert: readFileSync(foreign.cert), key: readFileSync(foreign.key) });
    after(() => agent.destroy());
    const c = client({ timeoutMs: 10_000, agent }, base);
    const started = Date.now();
    await assert.rejects(c.get('k'), refused);
    assert.ok(Date.now() - started < 2000, `thrown after ${Date.now() - started} ms`);
    // The same agent with a certificate of the server's CA works: the refusal was the certificate's.
    const app = pki.issue('app', 'clientAuth');
    const good = new https.Agent({ keepAlive: true, maxVersion: 'TLSv1.2', ca, cert: readFileSync(app.cert), key: readFileSync(app.key) });
    after(() => good.destroy());
    assert.equal(await client({ agent: good }, base).get('k'), undefined);
  });
});

describe('FirkinClient and a TLS handshake cut before any byte of the request', () => {
  it('retries an add refused at the handshake (server at max_connections: not sent) until a connection is free, and stores it', async () => {
    const { origin } = await startFirkin({ tls: { cert: server.cert, key: server.key }, max_connections: 1, base_uri: '/sessions/v1/' });
    const base = `${origin}/sessions/v1/`;
    // Another client holds the one connection until it has been idle 800 ms.
    const holder = client({ tls: { ca }, idleTimeoutMs: 800 }, base);
    await holder.get('k');
    const c = client({ tls: { ca }, timeoutMs: 10_000 }, base);
    const started = Date.now();
    assert.equal(await c.add(`max-connections-${Date.now()}`, 'v'), true);
    assert.ok(Date.now() - started >= 500, `stored after ${Date.now() - started} ms, once the holder let go`);
  });
});

describe('FirkinClient TLS failures', () => {
  let requests = 0;
  const listen = async (server: http.Server): Promise<number> => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    after(() => {
      server.closeAllConnections();
      server.close();
    });
    return (server.address() as AddressInfo).port;
  };
  const handler: http.RequestListener = (_req, res) => {
    requests++;
    res.end();
  };
  const refusedAtOnce = async (c: FirkinClient, code: RegExp, what: RegExp): Promise<void> => {
    const started = Date.now();
    await assert.rejects(c.get('secret key'), (err: unknown) => {
      assert.ok(err instanceof FirkinTlsError, String(err));
      assert.match(err.code, code);
      assert.match(err.message, what);
      assert.ok(!err.message.includes('secret'));
      return true;
    });
    const took = Date.now() - started;
    assert.ok(took < 2000, `thrown after ${took} ms, not retried until timeoutMs`);
  };

  it("throws FirkinTlsError at once when the server's certificate is not signed by a trusted CA, or is self-signed", async () => {
    const port = await listen(https.createServer({ cert: readFileSync(server.cert), key: readFileSync(server.key) }, handler));
    // No ca: Node's bundled roots do not know the test CA.
    await refusedAtOnce(client({ timeoutMs: 10_000 }, `https://127.0.0.1:${port}/s/`), /^UNABLE_TO_VERIFY_LEAF_SIGNATURE$/, /server's certificate was refused/);
    const otherCa = readFileSync(new TestPki().ca);
    await refusedAtOnce(client({ timeoutMs: 10_000, tls: { ca: otherCa } }, `https://127.0.0.1:${port}/s/`), /^UNABLE_TO_VERIFY_LEAF_SIGNATURE$/, /server's certificate was refused/);
    const selfSigned = new TestPki();
    const selfPort = await listen(https.createServer({ cert: readFileSync(selfSigned.ca), key: readFileSync(selfSigned.caKey) }, handler));
    await refusedAtOnce(client({ timeoutMs: 10_000 }, `https://127.0.0.1:${selfPort}/s/`), /^DEPTH_ZERO_SELF_SIGNED_CERT$/, /server's certificate was refused/);
    assert.equal(requests, 0);
  });

  it('throws FirkinTlsError at once for an https: URL to a plain HTTP listener', async () => {
    const port = await listen(http.createServer(handler));
    await refusedAtOnce(client({ timeoutMs: 10_000, tls: { ca } }, `https://127.0.0.1:${port}/s/`), /^EPROTO$/, /TLS handshake failed/);
    assert.equal(requests, 0);
  });
});
