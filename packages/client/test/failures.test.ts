/**
 * What a failure says, against a real `firkin serve` and small fake servers: a
 * request that was not sent (connection refused) is retried even for add and cas,
 * and reported as not sent; one that was sent and got no answer is an add's unknown
 * outcome; the final error names the failure the network reported, not the last
 * attempt's timeout; timeoutMs beyond what a timer can hold is refused; a token or
 * ETag that cannot travel in a header is refused by the client itself.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { FirkinClient, FirkinUnavailableError } from '../src/index.js';
import { startFirkin } from './helpers/firkin.js';

const clients: FirkinClient[] = [];
const client = (options: ConstructorParameters<typeof FirkinClient>[0]): FirkinClient => {
  const c = new FirkinClient(options);
  clients.push(c);
  return c;
};
after(() => clients.forEach((c) => c.close()));

/** A port nothing listens on (for now). */
async function freePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

describe('FirkinClient: sent or not', () => {
  it('retries an add whose connection was refused (not sent) until the server is up, and it is stored once', async () => {
    const port = await freePort();
    const c = client({ baseUrl: `http://127.0.0.1:${port}/sessions/v1/`, timeoutMs: 20_000 });
    const added = c.add('refused first', 'v');
    await sleep(300); // several attempts refused meanwhile
    await startFirkin({ listen_port: port, base_uri: '/sessions/v1/' });
    assert.equal(await added, true);
    assert.equal((await c.get('refused first'))?.value.toString(), 'v');
    assert.equal(await c.add('refused first', 'again'), false, 'the key holds the one value stored');
  });

  for (const op of ['add', 'cas'] as const) {
    it(`reports a refused ${op} as not sent (nothing applied), after retrying until timeoutMs, naming ECONNREFUSED`, async () => {
      const port = await freePort();
      const c = client({ baseUrl: `http://127.0.0.1:${port}/sessions/v1/`, timeoutMs: 500 });
      const started = Date.now();
      await assert.rejects(op === 'add' ? c.add('k', 'v') : c.cas('k', 'v', '"e"'), (err: unknown) => {
        assert.ok(err instanceof FirkinUnavailableError, String(err));
        assert.equal(err.sent, false);
        assert.equal(err.status, undefined);
        assert.match(err.message, /ECONNREFUSED/);
        assert.match(err.message, /the request was not sent: nothing was applied/);
        assert.doesNotMatch(err.message, /may or may not/);
        return true;
      });
      const took = Date.now() - started;
      assert.ok(took >= 450 && took < 2000, `retried for ${took} ms`);
    });
  }
});

describe('FirkinClient: the final error', () => {
  /** Resets the first connection as soon as its request arrives; never answers the others. */
  let requests = 0;
  let base: string;
  const server = http.createServer((req) => {
    requests++;
    req.resume();
    if (requests === 1) req.socket.destroy();
  });
  before(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/s/`;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });

  it("names the failure the network reported (a reset), not the last attempt's timeout", async () => {
    const c = client({ baseUrl: base, timeoutMs: 600 });
    await assert.rejects(c.get('k'), (err: unknown) => {
      assert.ok(err instanceof FirkinUnavailableError, String(err));
      assert.match(err.message, /within 600 ms, 2 attempts \(ECONNRESET; then the last attempt timed out after \d+ ms waiting for the answer\)/);
      assert.equal(err.sent, true);
      assert.equal((err.cause as Error).message, 'ECONNRESET');
      return true;
    });
  });
});

describe('FirkinClient: options and arguments refused before anything is sent', () => {
  it('refuses a timeoutMs a timer cannot hold (2^31 ms and more, Infinity), or not positive', () => {
    for (const timeoutMs of [2 ** 31, Infinity, Number.NaN, 0, -1, '500' as unknown as number]) {
      assert.throws(() => new FirkinClient({ baseUrl: 'http://127.0.0.1:1/s/', timeoutMs }), RangeError, String(timeoutMs));
    }
    new FirkinClient({ baseUrl: 'http://127.0.0.1:1/s/', timeoutMs: 2 ** 31 - 1 }).close();
  });

  it('refuses a token with CR or LF (or anything but token68) when constructed, without naming it', () => {
    for (const token of ['abc\r\nx-injected: 1', 'abc\n', 'two words', 'ünïcode']) {
      assert.throws(
        () => new FirkinClient({ baseUrl: 'http://127.0.0.1:1/s/', token }),
        (err: unknown) => err instanceof TypeError && /token68/.test(err.message) && !err.message.includes(token),
      );
    }
  });

  it("refuses an ETag with CR or LF in cas with the client's own TypeError, sending nothing", async () => {
    const { origin } = await startFirkin({ base_uri: '/sessions/v1/' });
    const c = client({ baseUrl: `${origin}/sessions/v1/` });
    const { etag } = await c.set('cas key', 'v');
    for (const bad of [`${etag}\r\nx-injected: 1`, 'unquoted', 'W/"weak"', '']) {
      await assert.rejects(c.cas('cas key', 'w', bad), (err: unknown) => {
        assert.ok(err instanceof TypeError, String(err));
        assert.equal((err as NodeJS.ErrnoException).code, undefined, "not Node.js's ERR_INVALID_CHAR");
        assert.match(err.message, /strong entity-tag/);
        return true;
      });
    }
    assert.equal((await c.get('cas key'))?.value.toString(), 'v');
    assert.equal(await c.cas('cas key', 'w', etag), true);
  });
});
