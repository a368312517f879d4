/**
 * FirkinStore in a real Express application on a real `firkin serve`: log in,
 * restart the application (a new app and store on the same Firkin), still logged
 * in; an unmodified request touches the session (the TTL the server reports grows
 * back); log out deletes the value. Then the options, through the store's methods.
 */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import express from 'express';
import session from 'express-session';
import type { SessionData } from 'express-session';
import { FirkinClient } from 'firkin-client';
import { FirkinStore, type FirkinStoreClient, type FirkinStoreOptions } from '../src/index.js';
// The server-spawning helper of firkin-client's tests (built first by the root build): its types from
// the source tree's point of view, the module from the compiled test's (dist/test/).
import type * as Helpers from '../../client/dist/test/helpers/firkin.js';
const { startFirkin } = (await import(new URL('../../../client/dist/test/helpers/firkin.js', import.meta.url).href)) as typeof Helpers;

const NAMESPACE_TTL = 3600;
const COOKIE_MAX_AGE_MS = 600_000;
let base: string;
before(async () => {
  const { origin } = await startFirkin({ default_ttl: NAMESPACE_TTL });
  base = `${origin}/sessions/v1/`;
});
const clients: FirkinClient[] = [];
const newClient = (): FirkinClient => {
  const client = new FirkinClient({ baseUrl: base });
  clients.push(client);
  return client;
};
after(() => clients.forEach((c) => c.close()));

/** An application as its README shows it: FirkinStore in express-session, a login, a page and a logout. */
async function startApp(store: FirkinStore): Promise<{ url: string; server: Server }> {
  const app = express();
  app.use(session({ store, secret: 'test secret', resave: false, saveUninitialized: false, cookie: { maxAge: COOKIE_MAX_AGE_MS } }));
  app.post('/login', (req, res) => {
    (req.session as { user?: string }).user = 'alice';
    res.send('welcome');
  });
  app.get('/me', (req, res) => void res.send((req.session as { user?: string }).user ?? 'anonymous'));
  app.post('/logout', (req, res, next) => req.session.destroy((err) => (err ? next(err) : res.send('bye'))));
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  apps.push(server);
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

const apps: Server[] = [];
const closeApp = (server: Server): Promise<void> => {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
};
// Whatever a failed assertion left listening.
after(() => Promise.all(apps.filter((s) => s.listening).map(closeApp)));

describe('FirkinStore in an Express application', () => {
  it('keeps a login across an application restart, touches it, and deletes it at logout', async () => {
    const firkin = newClient();
    const first = await startApp(new FirkinStore({ client: newClient() }));
    const login = await fetch(`${first.url}/login`, { method: 'POST' });
    assert.equal(await login.text(), 'welcome');
    const cookie = login.headers.getSetCookie()[0]!.split(';')[0]!;
    // connect.sid=s%3A<session ID>.<signature>
    const sid = decodeURIComponent(cookie.slice(cookie.indexOf('=') + 1)).replace(/^s:/, '').replace(/\.[^.]*$/, '');
    const stored = await firkin.get(`sess:${sid}`);
    assert.equal(JSON.parse(stored!.value.toString('utf8')).user, 'alice');
    assert.ok(stored!.ttl! > 590 && stored!.ttl! <= 600, `the cookie's lifetime, not the namespace's: ${stored!.ttl}`);
    await closeApp(first.server);

    const second = await startApp(new FirkinStore({ client: newClient() }));
    // As if most of the session's life had passed: the server holds it for 30 more seconds.
    await firkin.set(`sess:${sid}`, stored!.value, { ttl: 30 });
    assert.equal(await (await fetch(`${second.url}/me`, { headers: { cookie } })).text(), 'alice', 'still logged in');
    const touched = await firkin.get(`sess:${sid}`);
    assert.ok(touched!.ttl! > 590, `the unmodified request touched the session: ttl ${touched!.ttl}`);
    assert.equal(touched!.etag, stored!.etag, 'a touch sends no value');

    assert.equal(await (await fetch(`${second.url}/logout`, { method: 'POST', headers: { cookie } })).text(), 'bye');
    assert.equal(await firkin.get(`sess:${sid}`), undefined, 'logout deleted the value');
    assert.equal(await (await fetch(`${second.url}/me`, { headers: { cookie } })).text(), 'anonymous');
    await closeApp(second.server);
  });
});

describe('FirkinStore options', () => {
  /** The store's callback methods as promises. */
  const methods = (options: Omit<FirkinStoreOptions, 'client'>) => {
    const store = new FirkinStore({ client: newClient(), ...options });
    return {
      get: promisify(store.get.bind(store)) as (sid: string) => Promise<SessionData | null>,
      set: promisify(store.set.bind(store)) as (sid: string, data: SessionData) => Promise<void>,
      touch: promisify(store.touch.bind(store)) as (sid: string, data: SessionData) => Promise<void>,
      destroy: promisify(store.destroy.bind(store)) as (sid: string) => Promise<void>,
    };
  };
  let serial = 0;
  const sid = (): string => `sid-${process.pid}-${Date.now()}-${serial++}`;
  /** A session as express-session hands it over; `expires` absent: a browser-session cookie. */
  const data = (expiresInMs?: number, extra: Record<string, unknown> = {}): SessionData =>
    ({
      cookie: { originalMaxAge: expiresInMs ?? null, expires: expiresInMs === undefined ? undefined : new Date(Date.now() + expiresInMs), path: '/', httpOnly: true },
      ...extra,
    }) as unknown as SessionData;
  const ttlOf = async (key: string): Promise<number | undefined> => (await newClient().get(key))?.ttl;

  it('stores under prefix + ID with the cookie\'s TTL, else ttl, else the namespace default', async () => {
    const a = sid();
    await methods({ prefix: 'app1:' }).set(a, data(120_000));
    const ttl = await ttlOf(`app1:${a}`);
    assert.ok(ttl !== undefined && ttl > 110 && ttl <= 120, `cookie expiry: ${ttl}`);
    assert.equal(await newClient().get(`sess:${a}`), undefined, 'the prefix is used');

    const b = sid();
    await methods({ ttl: 200 }).set(b, data());
    assert.ok((await ttlOf(`sess:${b}`))! <= 200, 'ttl for a browser-session cookie');
    await methods({ ttl: 200 }).set(b, data(100_000));
    assert.ok((await ttlOf(`sess:${b}`))! <= 100, 'the cookie wins over a number');

    const c = sid();
    await methods({}).set(c, data());
    assert.ok((await ttlOf(`sess:${c}`))! > NAMESPACE_TTL - 60, 'no ttl: the server default');

    const d = sid();
    await methods({ ttl: (s) => ((s as { user?: string }).user === 'admin' ? 60 : 90) }).set(d, data(500_000, { user: 'admin' }));
    assert.ok((await ttlOf(`sess:${d}`))! <= 60, 'a ttl function decides for every session');
  });

  it('round-trips a session with the default JSON serializer and a custom one', async () => {
    const a = sid();
    const store = methods({});
    await store.set(a, data(60_000, { user: 'bob', n: 3 }));
    const back = await store.get(a);
    assert.equal((back as { user?: string }).user, 'bob');
    assert.equal(await store.get(sid()), null, 'an unknown session is null');

    const b = sid();
    const custom = methods({ serializer: { stringify: (s) => `v1|${JSON.stringify(s)}`, parse: (t) => JSON.parse(t.slice(3)) as SessionData } });
    await custom.set(b, data(60_000, { user: 'carol' }));
    assert.match((await newClient().get(`sess:${b}`))!.value.toString(), /^v1\|\{/);
    assert.equal(((await custom.get(b)) as { user?: string }).user, 'carol');
  });

  it('touch does nothing with disableTouch; an expired cookie deletes the session instead of storing it', async () => {
    const a = sid();
    await methods({}).set(a, data(30_000));
    await methods({ disableTouch: true }).touch(a, data(600_000));
    assert.ok((await ttlOf(`sess:${a}`))! <= 30, 'disableTouch: the TTL did not move');
    await methods({}).set(a, data(-1000));
    assert.equal(await newClient().get(`sess:${a}`), undefined);
  });

  it('has no all, length, ids or clear: Firkin never enumerates keys', () => {
    const store = new FirkinStore({ client: newClient() }) as unknown as Record<string, unknown>;
    for (const name of ['all', 'length', 'ids', 'clear']) assert.equal(store[name], undefined, name);
  });

  it('hands errors to the callback (an unreachable Firkin)', async () => {
    const store = new FirkinStore({ client: new FirkinClient({ baseUrl: 'http://127.0.0.1:1/s/', timeoutMs: 100 }) });
    await assert.rejects(promisify(store.get.bind(store))('x'), /ECONNREFUSED/);
  });
});

describe('FirkinStore with any client of the right shape', () => {
  /**
   * A test double, typed only by FirkinStoreClient: that it compiles as the store's
   * `client` is the point (a FirkinClient-typed option refuses it, its private fields
   * making the class nominal, as it refuses a FirkinClient from another copy of firkin-client).
   */
  const recording = () => {
    const calls: Array<[string, string, number | undefined]> = [];
    const client: FirkinStoreClient = {
      get: async () => undefined,
      set: async (key, _value, options) => void calls.push(['set', key, options.ttl]),
      touch: async (key, options) => (calls.push(['touch', key, options.ttl]), true),
      delete: async (key) => void calls.push(['delete', key, undefined]),
    };
    return { client, calls };
  };

  it('rounds a ttl function\'s fractional seconds up, for set and touch (never to 0 and a delete)', async () => {
    const { client, calls } = recording();
    const fractions = [59.2, 0.4];
    const store = new FirkinStore({ client, ttl: () => fractions.shift() ?? 1.5 });
    const session = { cookie: { originalMaxAge: null, path: '/' } } as unknown as SessionData;
    await promisify(store.set.bind(store))('a', session);
    await promisify(store.set.bind(store))('b', session);
    await promisify(store.touch.bind(store))('c', session);
    assert.deepEqual(calls, [
      ['set', 'sess:a', 60],
      ['set', 'sess:b', 1],
      ['touch', 'sess:c', 2],
    ]);
  });

  it('rounds a fractional number ttl up too', async () => {
    const { client, calls } = recording();
    const store = new FirkinStore({ client, ttl: 30.5 });
    await promisify(store.set.bind(store))('a', { cookie: { originalMaxAge: null, path: '/' } } as unknown as SessionData);
    assert.deepEqual(calls, [['set', 'sess:a', 31]]);
  });
});
