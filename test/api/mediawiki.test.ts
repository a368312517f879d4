/**
 * Requests shaped exactly as MediaWiki's RESTBagOStuff sends them: keys
 * rawurlencode()d onto the base URL, bodies in its `TYPE.hmac.payload` envelope,
 * PUT (its default) or POST (the Kask example configuration) writes. The client
 * below follows includes/libs/objectcache/RESTBagOStuff.php line by line.
 */
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { request } from '../helpers/http.js';
import { engineLabel, HTTP_ENGINES, onEngine } from '../helpers/cassandra.js';
import { startTestService, type TestService } from '../helpers/service.js';
import { tempDir } from '../helpers/tmp.js';

/** PHP's rawurlencode: RFC 3986 unreserved characters stay, everything else is %XX. */
function rawurlencode(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** A minimal RESTBagOStuff: doGet, doSet, doDelete, encodeBody, decodeBody. */
class RestBagOStuff {
  constructor(
    private readonly url: string,
    private readonly opts: { writeMethod: 'PUT' | 'POST'; serialization: 'PHP' | 'JSON'; hmacKey: string; writeHeaders: Record<string, string> },
  ) {}

  private encodeBody(serialized: Buffer): Buffer {
    const hmac = this.opts.hmacKey === '' ? '' : createHmac('sha256', this.opts.hmacKey).update(serialized).digest('base64');
    return Buffer.concat([Buffer.from(`${this.opts.serialization}.${hmac}.`), serialized]);
  }

  /** Returns the serialized payload, or false as RESTBagOStuff does for a bad envelope or HMAC. */
  decodeBody(body: Buffer): Buffer | false {
    const first = body.indexOf(0x2e);
    const second = body.indexOf(0x2e, first + 1);
    if (first < 0 || second < 0) return false;
    if (body.subarray(0, first).toString() !== this.opts.serialization) return false;
    const serialized = body.subarray(second + 1);
    if (this.opts.hmacKey !== '') {
      const check = createHmac('sha256', this.opts.hmacKey).update(serialized).digest();
      if (!check.equals(Buffer.from(body.subarray(first + 1, second).toString(), 'base64'))) return false;
    }
    return serialized;
  }

  async get(key: string): Promise<Buffer | false> {
    const r = await request(this.url + rawurlencode(key), { method: 'GET' });
    if (r.status === 200) return this.decodeBody(r.body);
    if (r.status !== 404) throw new Error(`Failed to fetch: ${r.status}`);
    return false;
  }

  async set(key: string, serialized: Buffer): Promise<boolean> {
    const r = await request(this.url + rawurlencode(key), {
      method: this.opts.writeMethod,
      body: this.encodeBody(serialized),
      headers: this.opts.writeHeaders,
    });
    return r.status === 200 || r.status === 201 || r.status === 204;
  }

  async delete(key: string): Promise<boolean> {
    const r = await request(this.url + rawurlencode(key), { method: 'DELETE' });
    return [200, 204, 205, 404, 410].includes(r.status);
  }
}

/** A session as PHP's serialize() writes it; user names are UTF-8 bytes. */
function phpSession(token: string): Buffer {
  const name = Buffer.from('Zoë Ünïcode');
  return Buffer.concat([
    Buffer.from(`a:2:{s:4:"data";a:3:{s:7:"wsToken";s:32:"${token}";s:8:"wsUserID";i:42;s:10:"wsUserName";s:${name.length}:"`),
    name,
    Buffer.from('";}s:8:"metadata";a:2:{s:6:"userId";i:42;s:8:"provider";s:25:"CookieSessionProvider";}}'),
  ]);
}

function jsonSession(token: string): Buffer {
  return Buffer.from(JSON.stringify({ data: { wsToken: token, wsUserID: 42, wsUserName: 'Zoë' }, metadata: { userId: 42 } }));
}

/** A sealed namespace's keyring: one key, in a file of its own. */
function sealing(): Record<string, unknown> {
  const dir = tempDir();
  writeFileSync(join(dir, 'k1'), randomBytes(32), { mode: 0o600 });
  return { sealed: true, keyring: { active: 'k1', keys: [{ id: 'k1', file: join(dir, 'k1') }] } };
}

for (const engine of HTTP_ENGINES) for (const sealed of [false, true]) {
  describe(`MediaWiki RESTBagOStuff against Firkin (${engineLabel(engine)}${sealed ? ', a sealed namespace' : ''})`, () => {
    let t: TestService;
    before(async () => {
      const config = await onEngine(engine, sealed ? 'mediawiki_sealed' : 'mediawiki_values', { base_uri: '/sessions/v1' }, false);
      t = await startTestService(sealed ? { ...config, ...sealing() } : config);
    });

    const variants = [
      { writeMethod: 'PUT', serialization: 'PHP', hmacKey: 'shared-secret', writeHeaders: {} },
      { writeMethod: 'POST', serialization: 'JSON', hmacKey: 'shared-secret', writeHeaders: { 'content-type': 'application/octet-stream' } },
      { writeMethod: 'PUT', serialization: 'JSON', hmacKey: '', writeHeaders: {} },
      { writeMethod: 'POST', serialization: 'PHP', hmacKey: '', writeHeaders: { 'content-type': 'application/octet-stream' } },
    ] as const;

    for (const v of variants) {
      it(`stores, reads and deletes sessions: ${v.writeMethod}, ${v.serialization}, ${v.hmacKey ? 'with' : 'without'} hmac_key`, async () => {
        // RESTBagOStuff trims the configured URL's trailing slash and adds one back.
        const bag = new RestBagOStuff(`${t.url}/sessions/v1/`, { ...v });
        const id = randomBytes(16).toString('hex');
        const key = `enwiki:MWSession:${id}`;
        const token = randomBytes(16).toString('hex');
        const payload = v.serialization === 'PHP' ? phpSession(token) : jsonSession(token);

        assert.equal(await bag.get(key), false, 'a new session is a miss');
        assert.equal(await bag.set(key, payload), true);
        const read = await bag.get(key);
        assert.ok(read !== false, 'envelope and HMAC verify on the bytes read back');
        assert.ok(read.equals(payload));

        // The key travelled rawurlencode()d and was stored decoded: the plain spelling finds it.
        const plain = await request(`${t.url}/sessions/v1/${key}`);
        assert.equal(plain.status, 200);

        assert.equal(await bag.delete(key), true);
        assert.equal(await bag.get(key), false);
        assert.equal(await bag.delete(key), true, 'deleting again is fine for MediaWiki');
      });
    }

    it('returns a body whose HMAC no longer verifies if another key signed it', async () => {
      const writer = new RestBagOStuff(`${t.url}/sessions/v1/`, { writeMethod: 'PUT', serialization: 'PHP', hmacKey: 'key-one', writeHeaders: {} });
      const reader = new RestBagOStuff(`${t.url}/sessions/v1/`, { writeMethod: 'PUT', serialization: 'PHP', hmacKey: 'key-two', writeHeaders: {} });
      const key = `enwiki:MWSession:${randomBytes(16).toString('hex')}`;
      await writer.set(key, phpSession('t'));
      assert.equal(await reader.get(key), false, 'Firkin returns bytes unchanged, so the HMAC check is meaningful');
    });
  });
}
