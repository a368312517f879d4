/**
 * A value's version (its ETag) is a function of its bytes alone, the same in every
 * release: clients keep ETags across restarts and upgrades, and both engines, in every
 * data centre, must give the same one for the same value.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { valueVersion } from '../../src/storage/version.js';

describe('valueVersion', () => {
  it('is the first 128 bits of the SHA-256, base64url, as in every earlier release', () => {
    assert.equal(valueVersion(Buffer.from('my session')), 'tAVoPQu1s9xDlnNd7SR7Gg');
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 4096 }), (bytes) => {
        assert.equal(valueVersion(bytes), createHash('sha256').update(bytes).digest().subarray(0, 16).toString('base64url'));
      }),
    );
  });
});
