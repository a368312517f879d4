/**
 * Sealing (src/seal/sealing.ts): a record opens only under the storage key, the
 * namespace and the key id it was sealed for, and not at all once a bit of it changed.
 */
import assert from 'node:assert/strict';
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { freshSeal, HmacSha256, keyIdOf, keyIdOfStorageKey, NamespaceKey, STORAGE_KEY_PREFIX } from '../../src/seal/sealing.js';

const secret = randomBytes(32);
const sessions = new NamespaceKey('k1', secret, 'sessions');

describe('sealing', () => {
  it('opens what it sealed, for any value', () => {
    fc.assert(
      fc.property(fc.string(), fc.uint8Array({ maxLength: 4096 }), (key, bytes) => {
        const sk = sessions.storageKey(key);
        const record = sessions.seal(Buffer.from(bytes), sk, freshSeal(0));
        const opened = sessions.open(record, sk);
        assert.ok(opened.ok);
        assert.deepEqual([...opened.value], [...bytes]);
      }),
      { numRuns: 200 },
    );
  });

  it('hides the key and the value: a storage key of its own shape, a record without the plaintext', () => {
    const key = 'enwiki:MWSession:0123456789abcdef0123456789abcdef';
    const sk = sessions.storageKey(key);
    assert.match(sk, /^s1:k1:[A-Za-z0-9_-]{43}$/);
    assert.ok(!sk.includes('0123456789abcdef'));
    assert.equal(keyIdOfStorageKey(sk), 'k1');
    assert.equal(keyIdOfStorageKey(key), undefined);
    const value = Buffer.from('{"wsUserName":"Alice","wsToken":"MARKER"}');
    const record = sessions.seal(value, sk, freshSeal(0));
    assert.equal(record.indexOf('MARKER'), -1);
    assert.equal(keyIdOf(record), 'k1');
    assert.notDeepEqual(sessions.seal(value, sk, freshSeal(0)), record, 'a fresh salt every time');
  });

  it('gives each namespace and each key its own storage keys', () => {
    const other = new NamespaceKey('k1', secret, 'central');
    const rotated = new NamespaceKey('k2', randomBytes(32), 'sessions');
    const sk = sessions.storageKey('k');
    assert.equal(sessions.storageKey('k'), sk, 'deterministic');
    assert.notEqual(other.storageKey('k').slice(6), sk.slice(6));
    assert.notEqual(rotated.storageKey('k').slice(6), sk.slice(6));
    assert.notEqual(sessions.storageKey('k2'), sk);
  });

  it('refuses a record changed in any bit, cut short, or grown', () => {
    const sk = sessions.storageKey('alice');
    const record = sessions.seal(Buffer.from('a session worth stealing'), sk, freshSeal(0));
    for (let bit = 0; bit < record.length * 8; bit++) {
      const flipped = Buffer.from(record);
      flipped[bit >> 3]! ^= 1 << (bit & 7);
      const opened = sessions.open(flipped, sk);
      assert.equal(opened.ok, false, `bit ${bit}`);
    }
    for (const cut of [0, 1, 10, record.length - 1]) assert.equal(sessions.open(record.subarray(0, cut), sk).ok, false, `cut at ${cut}`);
    assert.equal(sessions.open(Buffer.concat([record, Buffer.from([0])]), sk).ok, false);
  });

  it('refuses a record moved to another key, another namespace, or passed off under another key id', () => {
    const sk = sessions.storageKey('alice');
    const record = sessions.seal(Buffer.from('alice'), sk, freshSeal(0));
    assert.equal(sessions.open(record, sessions.storageKey('mallory')).ok, false, 'another key');
    const central = new NamespaceKey('k1', secret, 'central');
    assert.equal(central.open(record, central.storageKey('alice')).ok, false, 'another namespace');
    assert.equal(central.open(record, sk).ok, false, 'another namespace, same storage key');
    const k2 = new NamespaceKey('k2', secret, 'sessions');
    assert.equal(k2.open(record, sk).ok, false, 'another key id, even with the same secret');
    const relabelled = Buffer.from(record);
    relabelled.write('k2', 2, 'ascii');
    assert.equal(k2.open(relabelled, sk).ok, false, 'a header edited to name another key id');
  });

  it('carries its version and the expiry it was sealed with, and refuses a copy put back after that expiry', () => {
    const sk = sessions.storageKey('alice');
    const now = Date.parse('2026-12-04T12:00:00Z');
    const seal = freshSeal(3600, now);
    assert.match(seal.version, /^[A-Za-z0-9_-]{22}$/);
    const record = sessions.seal(Buffer.from('alice'), sk, seal);
    const opened = sessions.open(record, sk, now + 3000 * 1000);
    assert.ok(opened.ok);
    assert.equal(opened.version, seal.version);
    assert.equal(opened.until, now / 1000 + 3600);
    // A minute's grace for clocks, then refused: a thief who kept the record cannot replay it for longer.
    assert.ok(sessions.open(record, sk, now + (3600 + 59) * 1000).ok);
    assert.deepEqual(sessions.open(record, sk, now + (3600 + 61) * 1000), { ok: false, reason: 'expired' });
    // No expiry sealed (TTL 0): never refused for age.
    assert.ok(sessions.open(sessions.seal(Buffer.from('x'), sk, freshSeal(0, now)), sk, now + 1e12).ok);
  });

  it('names the reason it refused, never anything of the record', () => {
    const sk = sessions.storageKey('alice');
    const record = sessions.seal(Buffer.from('alice'), sk, freshSeal(0));
    assert.deepEqual(sessions.open(Buffer.from('plain bytes'), sk), { ok: false, reason: 'format' });
    const flipped = Buffer.from(record);
    flipped[flipped.length - 1]! ^= 1;
    assert.deepEqual(sessions.open(flipped, sk), { ok: false, reason: 'authentication' });
    assert.ok(sk.startsWith(STORAGE_KEY_PREFIX));
  });

  it('computes HMAC-SHA-256 as createHmac does, for any key up to 64 bytes and any message', () => {
    const check = (k: Buffer, m: Buffer | string): void => {
      const expected = createHmac('sha256', k).update(m).digest();
      assert.equal(new HmacSha256(k).base64url(m), expected.toString('base64url'));
      assert.deepEqual(new HmacSha256(k).into(m, Buffer.alloc(32)), expected);
    };
    // The edges: key lengths around a block, messages around the 4 KiB scratch (64 bytes of it the pad).
    for (const keyBytes of [0, 1, 32, 63, 64]) {
      for (const messageBytes of [0, 1, 55, 56, 64, 4031, 4032, 4033, 9000, 70_000]) check(randomBytes(keyBytes), randomBytes(messageBytes));
      check(randomBytes(keyBytes), `enwiki:MWSession:\u00e9\u{1F600}${'k'.repeat(4030)}`);
    }
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 64, size: 'max' }), fc.oneof(fc.uint8Array({ maxLength: 9000, size: 'max' }), fc.string({ unit: 'grapheme', maxLength: 300, size: 'max' })), (key, message) => {
        check(Buffer.from(key), typeof message === 'string' ? message : Buffer.from(message));
      }),
      { numRuns: 300 },
    );
    assert.throws(() => new HmacSha256(randomBytes(65)), /at most 64 bytes/);
    assert.throws(() => new HmacSha256(randomBytes(32)).into('m', Buffer.alloc(31)), /32 bytes/);
  });

  it('derives storage keys and opens records as the first release of sealed namespaces did (createHmac, concatenated buffers)', () => {
    // The format, written out with node:crypto's general APIs: records and storage keys
    // written before the one-shot HMAC must keep opening and keep being found.
    const salt = Buffer.from('firkin sealed namespaces v1');
    const lookup = Buffer.from(hkdfSync('sha256', secret, salt, 'storage key\0sessions', 32));
    const values = Buffer.from(hkdfSync('sha256', secret, salt, 'value\0sessions', 32));
    const sk = `s1:k1:${createHmac('sha256', lookup).update('alice', 'utf8').digest('base64url')}`;
    assert.equal(sessions.storageKey('alice'), sk);
    const recordSalt = randomBytes(16);
    const version = randomBytes(16);
    const until = Math.ceil(Date.now() / 1000) + 3600;
    const trailer = Buffer.alloc(20);
    version.copy(trailer);
    trailer.writeUInt32BE(until, 16);
    const head = Buffer.concat([Buffer.from([1, 2]), Buffer.from('k1'), recordSalt, trailer]);
    const cipher = createCipheriv('aes-256-gcm', createHmac('sha256', values).update(recordSalt).digest(), Buffer.alloc(12), { authTagLength: 16 });
    cipher.setAAD(Buffer.concat([Buffer.from(`firkin sealed record v1\0sessions\0${sk}\0k1\0`), head]));
    const record = Buffer.concat([head, cipher.update('the session'), cipher.final(), cipher.getAuthTag()]);
    assert.deepEqual(sessions.open(record, sk), { ok: true, value: Buffer.from('the session'), keyId: 'k1', version: version.toString('base64url'), until });
    // And what this release seals, that construction opens.
    const mine = sessions.seal(Buffer.from('v2'), sk, { version: version.toString('base64url'), until });
    const mineHead = mine.subarray(0, 4 + 16 + 20);
    assert.deepEqual(mineHead.subarray(0, 4), Buffer.from([1, 2, 0x6b, 0x31]));
    assert.deepEqual(mineHead.subarray(20), trailer);
    const decipher = createDecipheriv('aes-256-gcm', createHmac('sha256', values).update(mineHead.subarray(4, 20)).digest(), Buffer.alloc(12), { authTagLength: 16 });
    decipher.setAAD(Buffer.concat([Buffer.from(`firkin sealed record v1\0sessions\0${sk}\0k1\0`), mineHead]));
    decipher.setAuthTag(mine.subarray(mine.length - 16));
    assert.deepEqual(Buffer.concat([decipher.update(mine.subarray(40, mine.length - 16)), decipher.final()]), Buffer.from('v2'));
  });

  it('refuses a version that is not 16 bytes', () => {
    assert.throws(() => sessions.seal(Buffer.from('v'), sessions.storageKey('a'), { version: 'short', until: 0 }), /16 bytes/);
    assert.throws(() => sessions.seal(Buffer.from('v'), sessions.storageKey('a'), { version: randomBytes(17).toString('base64url'), until: 0 }), /16 bytes/);
  });
});
