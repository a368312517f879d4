/** Versions (ETags): keyed on Cassandra, random on the embedded engine; neither tells anything of the bytes. */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { keyedVersion, randomVersion, versionSecret } from '../../src/storage/version.js';

describe('versions', () => {
  const secret = versionSecret(randomBytes(16));

  it('keyed: the same for the same key and bytes under one table secret, whoever computes it', () => {
    fc.assert(
      fc.property(fc.string(), fc.uint8Array(), (key, bytes) => {
        assert.equal(keyedVersion(secret, key, bytes), keyedVersion(Buffer.from(secret), key, Buffer.from(bytes)));
        assert.match(keyedVersion(secret, key, bytes), /^[A-Za-z0-9_-]{22}$/);
      }),
    );
  });

  it('keyed: other bytes, another key or another table give another version; never the value\u2019s plain hash', () => {
    const value = Buffer.from('my session');
    const v = keyedVersion(secret, 'k', value);
    assert.notEqual(keyedVersion(secret, 'k', Buffer.from('my session!')), v);
    assert.notEqual(keyedVersion(secret, 'k2', value), v);
    assert.notEqual(keyedVersion(versionSecret(randomBytes(16)), 'k', value), v);
    assert.notEqual(v, createHash('sha256').update(value).digest().subarray(0, 16).toString('base64url'));
    // The key's length is part of it: ("ab", "c…") and ("a", "bc…") differ.
    assert.notEqual(keyedVersion(secret, 'ab', Buffer.from('c')), keyedVersion(secret, 'a', Buffer.from('bc')));
  });

  it('keyed: the first 128 bits of SHA-256(secret, key length, key, bytes), below and above the streaming threshold', () => {
    // What Cassandra's ETags have been since they were keyed: a change here breaks every If-Match in flight.
    // Short values after long ones too: the input is built in one reused buffer (version.ts).
    for (const size of [0, 1, 1000, 64 * 1024, 64 * 1024 + 1, 300_000, 5000, 10, 0]) {
      const value = randomBytes(size);
      const key = `enwiki:MWSession:\u00e9${size}`;
      const length = Buffer.alloc(4);
      length.writeUInt32BE(Buffer.byteLength(key));
      const expected = createHash('sha256').update(secret).update(length).update(key, 'utf8').update(value).digest().subarray(0, 16).toString('base64url');
      assert.equal(keyedVersion(secret, key, value), expected, `${size} bytes`);
    }
  });

  it('random: 128 bits, never repeated', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 10_000; i++) {
      const v = randomVersion();
      assert.match(v, /^[A-Za-z0-9_-]{22}$/);
      seen.add(v);
    }
    assert.equal(seen.size, 10_000);
  });
});
