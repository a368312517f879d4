/**
 * A baseUrl that names no namespace fails loudly rather than silently, against a
 * real `firkin serve`: the server's root is refused outright (its endpoints live
 * there), a mistyped base URI gets the server's no-namespace 404 as a
 * FirkinRejectedError (not "absent"), and an answer without the ETag Firkin always
 * sends is a FirkinProtocolError. A bearer token goes over plain http: only to a
 * loopback host, unless allowed.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { FirkinClient, FirkinProtocolError, FirkinRejectedError } from '../src/index.js';
import { startFirkin } from './helpers/firkin.js';

const clients: FirkinClient[] = [];
const client = (options: ConstructorParameters<typeof FirkinClient>[0]): FirkinClient => {
  const c = new FirkinClient(options);
  clients.push(c);
  return c;
};
after(() => clients.forEach((c) => c.close()));

const NO_NAMESPACE = 'urn:firkin:problem:no-namespace';

describe('FirkinClient on a baseUrl that names no namespace', () => {
  let origin: string;
  before(async () => {
    ({ origin } = await startFirkin({ base_uri: '/sessions/v1/' }));
  });

  it("refuses the server's root as baseUrl (where get('metrics') would read the metrics page)", () => {
    for (const baseUrl of [origin, `${origin}/`, new URL(origin)]) {
      assert.throws(() => new FirkinClient({ baseUrl }), (err: unknown) => err instanceof TypeError && /base URI/.test(err.message));
    }
    assert.throws(() => new FirkinClient({ baseUrl: `http://user:secret@127.0.0.1:1/s/` }), /no user name or password/);
  });

  it('throws FirkinRejectedError (404, no-namespace) for a get or touch on a mistyped base URI, rather than answering "absent"', async () => {
    for (const baseUrl of [`${origin}/sessions/v2/`, `${origin}/session/v1`, `${origin}/sessions`]) {
      const c = client({ baseUrl });
      const noNamespace = (err: unknown): boolean => {
        assert.ok(err instanceof FirkinRejectedError, String(err));
        assert.equal(err.status, 404);
        assert.equal(err.type, NO_NAMESPACE);
        assert.match(err.message, /no namespace at http:\/\/127\.0\.0\.1:\d+\/[^ ]* \(404, urn:firkin:problem:no-namespace\): check baseUrl/);
        assert.ok(!err.message.includes('the key'), 'the key stays out');
        return true;
      };
      await assert.rejects(c.get('the key'), noNamespace, baseUrl);
      await assert.rejects(c.touch('the key'), noNamespace, baseUrl);
      await assert.rejects(c.set('the key', 'v'), noNamespace, baseUrl);
      await assert.rejects(c.delete('the key'), noNamespace, baseUrl);
    }
    // The right one still tells an absent key.
    const right = client({ baseUrl: `${origin}/sessions/v1` });
    assert.equal(await right.get('the key'), undefined);
    assert.equal(await right.touch('the key'), false);
  });
});

describe('FirkinClient and answers that are not Firkin’s', () => {
  /** Answers as a proxy or another service might: no ETag, or a 404 page that is no problem document. */
  const server = http.createServer((req, res) => {
    req.resume();
    if (req.url!.endsWith('/page')) return void res.writeHead(404, { 'content-type': 'text/html' }).end('<h1>Not Found</h1>');
    if (req.method === 'GET') return void res.writeHead(200, { 'content-type': 'text/plain' }).end('a page, not a value');
    if (req.method === 'PUT') return void res.writeHead(201).end();
    res.writeHead(204).end();
  });
  let base: string;
  before(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/s/`;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });

  it('throws FirkinProtocolError for a 200 or a 201 without an ETag, not retried', async () => {
    const c = client({ baseUrl: base });
    await assert.rejects(c.get('k'), (err: unknown) => {
      assert.ok(err instanceof FirkinProtocolError, String(err));
      assert.equal(err.status, 200);
      assert.match(err.message, /has no ETag, which Firkin always sends/);
      return true;
    });
    await assert.rejects(c.set('k', 'v'), (err: unknown) => err instanceof FirkinProtocolError && err.status === 201 && /it says the value was stored/.test(err.message));
  });

  it('takes a 404 that is no problem document as "no namespace here", not as an absent key', async () => {
    const c = client({ baseUrl: base });
    await assert.rejects(c.get('page'), (err: unknown) => {
      assert.ok(err instanceof FirkinRejectedError, String(err));
      assert.equal(err.status, 404);
      assert.equal(err.type, undefined);
      assert.match(err.message, /no Firkin problem document\): check baseUrl/);
      return true;
    });
  });
});

describe('FirkinClient and a bearer token over plain http:', () => {
  const token = randomBytes(32).toString('base64url');
  const config = {
    listen_address: '0.0.0.0',
    namespaces: [{ name: 'sessions', base_uri: '/sessions/v1/', tokens: [{ name: 'app', sha256: createHash('sha256').update(token).digest('hex'), operations: ['read', 'write', 'delete'] }] }],
  };

  it('refuses to send it to a host that is not loopback, naming the host but not the token', () => {
    for (const host of ['192.0.2.2:8081', 'example.com', '10.0.0.1', '[fd00::2]', '[::ffff:10.0.0.1]', '128.0.0.1', 'localhost.example.com']) {
      assert.throws(
        () => new FirkinClient({ baseUrl: `http://${host}/sessions/v1/`, token }),
        (err: unknown) => err instanceof TypeError && /clear text over http:/.test(err.message) && !err.message.includes(token),
        host,
      );
    }
    for (const host of ['127.0.0.1', '127.1.2.3:8081', 'localhost', 'app.localhost', '[::1]', '[::ffff:127.0.0.1]']) {
      new FirkinClient({ baseUrl: `http://${host}/sessions/v1/`, token }).close();
    }
    new FirkinClient({ baseUrl: 'https://example.com/sessions/v1/', token }).close();
  });

  it('sends it over loopback, and to another host with allowTokenOverHttp', async (t) => {
    const { origin } = await startFirkin(config);
    const port = new URL(origin).port;
    const local = client({ baseUrl: `http://127.0.0.1:${port}/sessions/v1/`, token });
    await local.set('token key', 'v');
    // This machine's own non-loopback address stands for another host on the network.
    const address = (await import('node:os')).networkInterfaces();
    const external = Object.values(address)
      .flat()
      .find((a) => a !== undefined && a.family === 'IPv4' && !a.internal)?.address;
    if (external === undefined) return void t.skip('this machine has no non-loopback IPv4 address');
    assert.throws(() => new FirkinClient({ baseUrl: `http://${external}:${port}/sessions/v1/`, token }), TypeError);
    const remote = client({ baseUrl: `http://${external}:${port}/sessions/v1/`, token, allowTokenOverHttp: true });
    assert.equal((await remote.get('token key'))?.value.toString(), 'v');
  });
});
