/**
 * api/failures.ts: the one place where a storage failure's kind becomes an answer.
 * Retrying helps for `unavailable` and `timeout` (503 with Retry-After); it cannot
 * for `permanent` and `corrupt` (500; but a missing Cassandra keyspace or table is 503
 * schema-missing: the engine checks every 10 s and serves once it exists), nor blindly
 * for `outcome-unknown`.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { failureAnswer } from '../../src/api/failures.js';
import { StorageError, type StorageFailure } from '../../src/storage/errors.js';

const CASES: readonly [StorageFailure, number, string, string | undefined][] = [
  ['unavailable', 503, 'urn:firkin:problem:storage-unavailable', '1'],
  ['timeout', 503, 'urn:firkin:problem:storage-unavailable', '1'],
  ['outcome-unknown', 503, 'urn:firkin:problem:outcome-unknown', undefined],
  ['full', 507, 'urn:firkin:problem:insufficient-storage', undefined],
  ['permanent', 500, 'https://www.mediawiki.org/wiki/Kask/errors/server_error', undefined],
  ['corrupt', 500, 'https://www.mediawiki.org/wiki/Kask/errors/server_error', undefined],
];

describe('storage failures as answers', () => {
  for (const [kind, status, type, retryAfter] of CASES) {
    it(`${kind}: ${status}${retryAfter ? ' with Retry-After' : ''}`, () => {
      const answer = failureAnswer(new StorageError(kind, 'engine words (never shown)', { cause: new Error('driver text') }), 'req-1');
      assert.equal(answer.status, status);
      assert.equal(answer.headers['Retry-After'], retryAfter);
      const body = JSON.parse(String(answer.body)) as { type: string; detail: string; instance: string };
      assert.equal(body.type, type);
      assert.equal(body.instance, 'urn:firkin:request:req-1');
      assert.doesNotMatch(body.detail, /engine words|driver text/, 'the engine\u2019s own words stay in the log');
    });
  }

  it('answers 500 to anything that is not a storage failure (a bug)', () => {
    assert.equal(failureAnswer(new TypeError('x is undefined'), 'req-2').status, 500);
  });

  it('a missing Cassandra table or keyspace (permanent): 503 schema-missing with Retry-After 10, naming the command, not the table', () => {
    for (const category of ['missing-table', 'missing-keyspace'] as const) {
      const answer = failureAnswer(new StorageError('permanent', 'table "ks"."t" does not exist', { category }), 'req-4');
      assert.equal(answer.status, 503, category);
      assert.equal(answer.headers['Retry-After'], '10', category);
      const body = JSON.parse(String(answer.body)) as { type: string; detail: string };
      assert.equal(body.type, 'urn:firkin:problem:schema-missing', category);
      assert.match(body.detail, /does not exist; an operator must create it.*\(firkin schema --config FILE --apply\)$/, category);
      assert.doesNotMatch(body.detail, /"ks"|"t"/, 'names no keyspace or table');
    }
    // Other permanent causes stay 500: retrying cannot help.
    for (const category of ['unauthorized', 'bad-credentials', 'table-mismatch', 'invalid-query'] as const) {
      assert.equal(failureAnswer(new StorageError('permanent', 'x', { category }), 'req-5').status, 500, category);
    }
  });

  it('takes a caller\u2019s own detail per kind (the truncation\u2019s words)', () => {
    const answer = failureAnswer(new StorageError('outcome-unknown', 'x'), 'req-3', { 'outcome-unknown': 'Repeat it' });
    assert.equal((JSON.parse(String(answer.body)) as { detail: string }).detail, 'Repeat it');
  });
});
