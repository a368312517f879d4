// test-tier: full (its Cassandra namespace starts a Cassandra node: cassandraSection in helpers/firkin.ts)
/**
 * FirkinClient against a real `firkin serve`: every method on both engines (the
 * embedded one, and Cassandra with a plain namespace and a conditional_writes one),
 * awkward keys, and the errors a real server gives.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FirkinClient, FirkinRejectedError, FirkinUnavailableError } from '../src/index.js';
import { cassandraSection, runFirkin, startFirkin } from './helpers/firkin.js';

const NAMESPACE_TTL = 3600;
const MAX_VALUE_BYTES = 4096;
/** Keys a hand-built URL would get wrong: each must reach the server as one key, itself. */
const AWKWARD_KEYS = ['a/b', 'a%2Fb', '100%', 'with space', 'query?x=1#frag', 'plus+and&amp', 'ünïcødé €', '😀 emoji', '..', '.'];

/** A fresh key per test, so that tests on one namespace never see each other's values. */
let serial = 0;
const fresh = (label: string): string => `${label}-${process.pid}-${Date.now()}-${serial++}`;

interface Namespaces {
  /** Serves plain writes; conditional ones too unless `conditional` is given. */
  readonly plain: string;
  /** Serves add and cas. */
  readonly conditional: string;
}

function contract(engine: string, start: () => Promise<Namespaces>, plainTakesConditions: boolean): void {
  describe(`FirkinClient on ${engine}`, () => {
    let plain: FirkinClient;
    let conditional: FirkinClient;
    before(async () => {
      const ns = await start();
      plain = new FirkinClient({ baseUrl: ns.plain, timeoutMs: 15_000 });
      conditional = new FirkinClient({ baseUrl: ns.conditional, timeoutMs: 15_000 });
    });
    after(() => {
      plain.close();
      conditional.close();
    });

    it('sets and gets a Buffer and a string, with a strong ETag and the remaining TTL', async () => {
      const key = fresh('set');
      const bytes = Buffer.from([0, 1, 2, 255, 254]);
      const { etag } = await plain.set(key, bytes);
      assert.match(etag, /^"[^"]+"$/);
      const got = await plain.get(key);
      assert.deepEqual(got?.value, bytes);
      assert.equal(got?.etag, etag);
      assert.ok(got?.ttl !== undefined && got.ttl > NAMESPACE_TTL - 60 && got.ttl <= NAMESPACE_TTL, `ttl ${got?.ttl}`);
      await plain.set(key, 'späße', { ttl: 120 });
      const again = await plain.get(key);
      assert.equal(again?.value.toString('utf8'), 'späße');
      assert.notEqual(again?.etag, etag);
      assert.ok(again?.ttl !== undefined && again.ttl > 60 && again.ttl <= 120, `ttl ${again?.ttl}`);
    });

    it('gets undefined for a key never written, and after delete (which succeeds whether or not the key exists)', async () => {
      const key = fresh('delete');
      assert.equal(await plain.get(key), undefined);
      await plain.set(key, 'v');
      await plain.delete(key);
      assert.equal(await plain.get(key), undefined);
      await plain.delete(key);
    });

    it('percent-encodes keys: slashes, percent signs, spaces, query and fragment characters and UTF-8 are each one key', async () => {
      const prefix = fresh('awkward');
      for (const [i, suffix] of AWKWARD_KEYS.entries()) await plain.set(prefix + suffix, `value ${i}`);
      for (const [i, suffix] of AWKWARD_KEYS.entries()) {
        assert.equal((await plain.get(prefix + suffix))?.value.toString('utf8'), `value ${i}`, JSON.stringify(suffix));
      }
      // The key "." or ".." alone would be resolved away by a URL parser: it must still be a key of its own.
      await plain.set('..', 'dots');
      assert.equal((await plain.get('..'))?.value.toString(), 'dots');
      await plain.delete('..');
      assert.equal(await plain.get(prefix + AWKWARD_KEYS[0]!.replace('/', '')), undefined, '"a/b" is not "ab"');
    });

    it('touch extends the lifetime up to the namespace default, and answers false for a missing key', async () => {
      const key = fresh('touch');
      await plain.set(key, 'v', { ttl: 60 });
      assert.ok((await plain.get(key))!.ttl! <= 60);
      assert.equal(await plain.touch(key, { ttl: 1800 }), true);
      const ttl = (await plain.get(key))!.ttl!;
      assert.ok(ttl > 1700 && ttl <= 1800, `ttl after touch ${ttl}`);
      assert.equal(await plain.touch(key, { ttl: 10 * NAMESPACE_TTL }), true);
      assert.ok((await plain.get(key))!.ttl! <= NAMESPACE_TTL, 'clamped to the namespace default');
      assert.equal(await plain.touch(key), true);
      assert.equal((await plain.get(key))?.value.toString(), 'v', 'touch keeps the value');
      assert.equal(await plain.touch(fresh('never-written')), false);
    });

    it('add stores only when the key holds no value', async () => {
      const key = fresh('add');
      assert.equal(await conditional.add(key, 'first', { ttl: 300 }), true);
      assert.equal(await conditional.add(key, 'second'), false);
      const got = await conditional.get(key);
      assert.equal(got?.value.toString(), 'first');
      assert.ok(got!.ttl! <= 300);
    });

    it('cas writes only over the ETag it names: false once the value changed, and for a missing key', async () => {
      const key = fresh('cas');
      const { etag } = await conditional.set(key, 'v1');
      assert.equal(await conditional.cas(key, 'v2', etag), true);
      assert.equal(await conditional.cas(key, 'v3', etag), false, 'v1 is gone');
      assert.equal((await conditional.get(key))?.value.toString(), 'v2');
      const current = (await conditional.get(key))!.etag;
      assert.equal(await conditional.cas(key, 'v3', current, { ttl: 30 }), true);
      assert.ok((await conditional.get(key))!.ttl! <= 30);
      assert.equal(await conditional.cas(fresh('cas-missing'), 'v', current), false);
    });

    it(`add and cas on the plain namespace ${plainTakesConditions ? 'work' : 'are rejected (conditional_writes off), never retried'}`, async () => {
      const key = fresh('plain-conditional');
      if (plainTakesConditions) {
        assert.equal(await plain.add(key, 'v'), true);
        return;
      }
      await assert.rejects(plain.add(key, 'v'), (err: unknown) => {
        assert.ok(err instanceof FirkinRejectedError);
        assert.equal(err.status, 400);
        assert.equal(err.type, 'urn:firkin:problem:conditional-writes-disabled');
        assert.ok(!err.message.includes(key), 'the key stays out of the message');
        return true;
      });
      await assert.rejects(plain.cas(key, 'v', '"x"'), FirkinRejectedError);
    });

    it('rejects a value over max_value_bytes with a typed error (413), keyless', async () => {
      const key = fresh('too-large');
      await assert.rejects(plain.set(key, Buffer.alloc(MAX_VALUE_BYTES + 1)), (err: unknown) => {
        assert.ok(err instanceof FirkinRejectedError);
        assert.equal(err.status, 413);
        assert.equal(err.type, 'urn:firkin:problem:value-too-large');
        assert.ok(!err.message.includes(key));
        return true;
      });
    });

    it('refuses a bad TTL or an empty key before sending anything', async () => {
      await assert.rejects(plain.set('k', 'v', { ttl: 0 }), RangeError);
      await assert.rejects(plain.touch('k', { ttl: 1.5 }), RangeError);
      await assert.rejects(plain.get(''), TypeError);
    });
  });
}

contract(
  'the embedded engine',
  async () => {
    const { origin } = await startFirkin({ default_ttl: NAMESPACE_TTL, max_value_bytes: MAX_VALUE_BYTES, base_uri: '/sessions/v1/' });
    // The second without its trailing slash: the client adds it.
    return { plain: `${origin}/sessions/v1/`, conditional: `${origin}/sessions/v1` };
  },
  true,
);

contract(
  'Cassandra (a plain namespace, and one with conditional_writes)',
  async () => {
    const config = {
      cassandra: cassandraSection('firkin_pkg_client'),
      max_value_bytes: MAX_VALUE_BYTES,
      namespaces: [
        { name: 'plain', base_uri: '/plain/v1/', table: 'client_plain', default_ttl: NAMESPACE_TTL },
        { name: 'conditional', base_uri: '/conditional/v1/', table: 'client_conditional', default_ttl: NAMESPACE_TTL, conditional_writes: true },
      ],
    };
    runFirkin(config, 'schema', '--apply');
    const { origin } = await startFirkin(config);
    return { plain: `${origin}/plain/v1/`, conditional: `${origin}/conditional/v1/` };
  },
  false,
);

describe('FirkinClient without a server', () => {
  it('gives up with FirkinUnavailableError (no status) once timeoutMs has passed', async () => {
    const client = new FirkinClient({ baseUrl: 'http://127.0.0.1:1/sessions/v1/', timeoutMs: 300 });
    const started = Date.now();
    await assert.rejects(client.get('k'), (err: unknown) => {
      assert.ok(err instanceof FirkinUnavailableError);
      assert.equal(err.status, undefined);
      assert.match(err.message, /ECONNREFUSED/);
      return true;
    });
    const took = Date.now() - started;
    assert.ok(took >= 290 && took < 2000, `retried until the deadline (${took} ms)`);
    client.close();
  });
});
