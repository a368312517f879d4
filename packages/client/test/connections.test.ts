/**
 * The client's connections to a real `firkin serve`, counted by a TCP relay in
 * front of it: bounded by maxSockets (default 10) whatever the parallelism, so
 * that a server's max_connections is not overrun; idle ones closed by the client
 * after idleTimeoutMs (default 5 s), long before the server's 65 s keep-alive, so
 * that an idle pool does not hold the server's slots; the server's `Keep-Alive:
 * timeout=…` hint obeyed when shorter (a fake server announcing 2 s); an agent
 * of the caller's own; and an IPv6 literal in baseUrl.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, afterEach, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { FirkinClient, FirkinUnavailableError } from '../src/index.js';
import { startFirkin } from './helpers/firkin.js';
import { countingProxy } from './helpers/proxy.js';

// Each test's clients are closed when it ends: their idle connections must not count against the next test's.
let clients: FirkinClient[] = [];
const client = (options: ConstructorParameters<typeof FirkinClient>[0]): FirkinClient => {
  const c = new FirkinClient(options);
  clients.push(c);
  return c;
};
afterEach(async () => {
  clients.forEach((c) => c.close());
  clients = [];
  await sleep(200); // the server sees them go
});

let origin: string;
before(async () => {
  ({ origin } = await startFirkin({ base_uri: '/sessions/v1/', max_connections: 20 }));
});

describe('FirkinClient connections', () => {
  it('opens at most maxSockets connections (default 10) for 300 parallel gets, all answered', async () => {
    const proxy = await countingProxy(origin);
    const c = client({ baseUrl: `${proxy.origin}/sessions/v1/`, timeoutMs: 15_000 });
    await c.set('bounded', 'v');
    const got = await Promise.all(Array.from({ length: 300 }, () => c.get('bounded')));
    assert.ok(got.every((e) => e?.value.toString() === 'v'));
    assert.ok(proxy.opened <= 10, `${proxy.opened} connections opened`);
    assert.ok(proxy.peak <= 10, `${proxy.peak} open at once`);

    const three = await countingProxy(origin);
    const c3 = client({ baseUrl: `${three.origin}/sessions/v1/`, timeoutMs: 15_000, maxSockets: 3 });
    await Promise.all(Array.from({ length: 100 }, () => c3.get('bounded')));
    assert.ok(three.opened <= 3, `${three.opened} connections opened with maxSockets: 3`);
  });

  it('100 parallel adds against max_connections: 20 all succeed: none refused, none reported as of unknown outcome', async () => {
    const c = client({ baseUrl: `${origin}/sessions/v1/`, timeoutMs: 15_000 });
    const prefix = `add-${Date.now()}-`;
    const results = await Promise.allSettled(Array.from({ length: 100 }, (_, i) => c.add(prefix + i, 'v')));
    const failures = results.filter((r) => r.status === 'rejected');
    assert.equal(failures.length, 0, String((failures[0] as PromiseRejectedResult | undefined)?.reason));
    assert.ok(results.every((r) => r.status === 'fulfilled' && r.value === true));
  });

  it('closes idle connections after idleTimeoutMs, so that another client gets the slots of a server at max_connections', async () => {
    const proxy = await countingProxy(origin);
    // A pool as large as the server allows, idle afterwards: it would hold every slot for the server's 65 s.
    const greedy = client({ baseUrl: `${proxy.origin}/sessions/v1/`, maxSockets: 20, idleTimeoutMs: 400, timeoutMs: 15_000 });
    await Promise.all(Array.from({ length: 60 }, () => greedy.get('slots')));
    const pooled = proxy.open;
    assert.ok(pooled > 10, `the pool holds ${pooled} of the server's 20 slots`);
    const started = Date.now();
    await proxy.drained(3000);
    const took = Date.now() - started;
    assert.ok(took >= 300, `closed after ${took} ms idle`);
    assert.ok(proxy.closedByClient >= pooled, 'the client closed them, not the server');
    const other = client({ baseUrl: `${origin}/sessions/v1/`, timeoutMs: 2000 });
    assert.equal(await other.get('slots'), undefined);
  });

  it('closes an idle connection after 5 s by default, not at the server\'s 65 s', async () => {
    const proxy = await countingProxy(origin);
    const c = client({ baseUrl: `${proxy.origin}/sessions/v1/` });
    await c.get('default idle');
    assert.equal(proxy.open, 1);
    await sleep(4000);
    assert.equal(proxy.open, 1, 'kept for reuse meanwhile');
    await proxy.drained(2500);
    assert.equal(proxy.closedByClient, 1);
  });

  it('uses an agent of its own choosing, and close() leaves it open', async () => {
    const proxy = await countingProxy(origin);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
    after(() => agent.destroy());
    const c = new FirkinClient({ baseUrl: `${proxy.origin}/sessions/v1/`, agent, timeoutMs: 15_000 });
    await Promise.all(Array.from({ length: 50 }, () => c.get('agent')));
    assert.ok(proxy.opened <= 2, `${proxy.opened} connections with the agent's maxSockets: 2`);
    c.close();
    await sleep(50);
    assert.equal(proxy.open, proxy.opened, "the caller's agent keeps its connections");
    agent.destroy();
    await proxy.drained(1000);
  });

  it('refuses options that belong to a given agent, and an agent of the other protocol', async () => {
    const { Agent: HttpsAgent } = await import('node:https');
    const agent = new http.Agent();
    for (const extra of [{ maxSockets: 3 }, { idleTimeoutMs: 100 }]) {
      assert.throws(() => new FirkinClient({ baseUrl: `${origin}/sessions/v1/`, agent, ...extra }), TypeError);
    }
    assert.throws(() => new FirkinClient({ baseUrl: `${origin}/sessions/v1/`, agent: new HttpsAgent() }), /http\.Agent/);
    assert.throws(() => new FirkinClient({ baseUrl: 'https://127.0.0.1:1/s/', agent }), /https\.Agent/);
    for (const maxSockets of [0, -1, 1.5, Number.NaN]) assert.throws(() => new FirkinClient({ baseUrl: `${origin}/s/`, maxSockets }), RangeError);
    for (const idleTimeoutMs of [0, Number.NaN, Infinity, 2 ** 31]) assert.throws(() => new FirkinClient({ baseUrl: `${origin}/s/`, idleTimeoutMs }), RangeError);
  });

  it('counts the wait for a free connection within timeoutMs, and reports an add that never got one as not sent', async () => {
    // One connection (an agent shared by two clients), held by a request the server never answers: the add waits for it and times out waiting.
    const slow = http.createServer((req) => void req.resume());
    await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
    after(() => {
      slow.closeAllConnections();
      slow.close();
    });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    after(() => agent.destroy());
    const baseUrl = `http://127.0.0.1:${(slow.address() as AddressInfo).port}/s/`;
    const holder = client({ baseUrl, agent, timeoutMs: 1000 });
    const held = holder.get('held');
    await sleep(50);
    const c = client({ baseUrl, agent, timeoutMs: 400 });
    const started = Date.now();
    await assert.rejects(c.add('queued', 'v'), (err: unknown) => {
      assert.ok(err instanceof FirkinUnavailableError, String(err));
      assert.equal(err.sent, false);
      assert.equal(err.status, undefined);
      assert.match(err.message, /waiting for a free connection/);
      assert.match(err.message, /not sent: nothing was applied/);
      return true;
    });
    const took = Date.now() - started;
    assert.ok(took >= 390 && took < 1000, `gave up after ${took} ms`);
    slow.closeAllConnections();
    await assert.rejects(held, (err: unknown) => err instanceof FirkinUnavailableError && err.sent === true);
  });
});

describe("FirkinClient and the server's Keep-Alive hint", () => {
  /** A server that announces `Keep-Alive: timeout=<hint>` (Node's own header) and closes idle connections after it. */
  const hinting = async (hintSeconds: number) => {
    const server = http.createServer((req, res) => {
      req.resume();
      res.writeHead(200, { etag: '"e"' }).end('v');
    });
    server.keepAliveTimeout = hintSeconds * 1000;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    after(() => {
      server.closeAllConnections();
      server.close();
    });
    return countingProxy(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  };

  it('closes an idle connection a second before the server says it will (timeout=2), well within idleTimeoutMs', async () => {
    const proxy = await hinting(2);
    const c = client({ baseUrl: `${proxy.origin}/s/`, idleTimeoutMs: 30_000 });
    await c.get('k');
    const started = Date.now();
    await proxy.drained(3000);
    const took = Date.now() - started;
    assert.ok(took >= 800 && took < 1800, `closed after ${took} ms`);
    assert.equal(proxy.closedByClient, 1, 'by the client, before the server');
    // The next request takes a new connection, never the one the server is closing.
    assert.equal((await c.get('k'))?.value.toString(), 'v');
    assert.equal(proxy.opened, 2);
  });

  it('does not keep a connection whose server allows under a second (timeout=1)', async () => {
    const proxy = await hinting(1);
    const c = client({ baseUrl: `${proxy.origin}/s/` });
    await c.get('k');
    await proxy.drained(500);
    assert.equal(proxy.closedByClient, 1);
  });
});

describe('FirkinClient with an IPv6 literal', () => {
  it('connects to http://[::1]:port/', async () => {
    const { origin: v6 } = await startFirkin({ listen_address: '::1', base_uri: '/sessions/v1/' });
    assert.match(v6, /^http:\/\/\[::1\]:\d+$/);
    const c = client({ baseUrl: `${v6}/sessions/v1/`, timeoutMs: 5000 });
    const { etag } = await c.set('over ipv6', 'v6');
    assert.equal((await c.get('over ipv6'))?.etag, etag);
  });
});
