/** Plain-namespace write timestamps: even, strictly increasing; a touch's is the least above the value's. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import cassandra from 'cassandra-driver';
import { EvenTimestampGenerator, touchTimestamp } from '../../src/storage/cassandra/timestamps.js';

describe('cassandra write timestamps', () => {
  it('are even and strictly increasing, also many within one millisecond', () => {
    const generator = new EvenTimestampGenerator();
    const before = Date.now() * 1000;
    const stamps = Array.from({ length: 5000 }, () => generator.next());
    assert.ok(stamps[0]! >= before);
    for (let i = 0; i < stamps.length; i++) {
      assert.equal(stamps[i]! % 2, 0, `stamp ${i} is even`);
      if (i > 0) assert.ok(stamps[i]! > stamps[i - 1]!, `stamp ${i} is later than the one before`);
    }
    assert.ok(stamps.at(-1)! <= (Date.now() + 10) * 1000, 'and stay near the clock');
  });

  it('leave the microsecond after each free for a touch', () => {
    const generator = new EvenTimestampGenerator();
    const written = generator.next();
    const touched = touchTimestamp(cassandra.types.Long.fromNumber(written));
    assert.equal(touched.toNumber(), written + 1);
    assert.ok(generator.next() > touched.toNumber(), 'the next write of the process is later than the touch');
  });
});
