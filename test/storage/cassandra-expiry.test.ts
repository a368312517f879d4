/** The TTL cap that keeps every expiry Firkin sends within what Cassandra 4.1 (and 5.0's default mode) stores. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_TTL_SECONDS } from '../../src/config/schema.js';
import { LAST_EXPIRY_SECONDS, storableTtl } from '../../src/storage/cassandra/expiry.js';

describe('storableTtl', () => {
  const now = Date.parse('2026-11-30T12:00:00Z');
  const last = LAST_EXPIRY_SECONDS * 1000;

  it('is 2038-01-19T03:14:06Z, a second before the first expiry Cassandra 4.1 refuses', () => {
    assert.equal(new Date(last).toISOString(), '2038-01-19T03:14:06.000Z');
  });

  it('leaves 0 (no expiry) and ordinary TTLs alone', () => {
    assert.equal(storableTtl(0, now), 0);
    assert.equal(storableTtl(86_400, now), 86_400);
    assert.equal(storableTtl(10 * 365 * 86_400, now), 10 * 365 * 86_400);
  });

  it('ends a long TTL a day before the limit', () => {
    const ttl = storableTtl(MAX_TTL_SECONDS, now);
    assert.ok(ttl < MAX_TTL_SECONDS);
    assert.equal(now + ttl * 1000, last - 86_400_000);
  });

  it('sends 1 s, never 0 (which would mean "forever"), for a TTL ending just past the cap', () => {
    assert.equal(storableTtl(3600, last - 86_401_000), 1);
  });

  it('caps nothing within the last day before the limit or after it, rather than shortening every TTL to 1 s', () => {
    assert.equal(storableTtl(3600, last - 3_600_000), 3600);
    assert.equal(storableTtl(86_400, last + 1000), 86_400);
  });
});
