/** LogEvery: a bounded number of lines per interval and key, each reporting what it stands for. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LogEvery } from '../../src/log/log-every.js';

describe('LogEvery', () => {
  it('logs the first occurrence, then one line per interval carrying the count since the last line', () => {
    let now = 0;
    const every = new LogEvery(1000, 1, () => now);
    assert.equal(every.due(), 1);
    assert.equal(every.due(), undefined);
    now = 999;
    assert.equal(every.due(), undefined);
    now = 1000;
    assert.equal(every.due(), 3, 'this one and the two counted');
  });

  it('with several lines an interval, logs each of the first ones, then counts the rest until the next interval', () => {
    let now = 0;
    const every = new LogEvery(1000, 3, () => now);
    const answers = Array.from({ length: 7 }, () => every.due('a'));
    assert.deepEqual(answers, [1, 1, 1, undefined, undefined, undefined, undefined]);
    assert.equal(every.due('b'), 1, 'another key has its own lines');
    now = 1500;
    assert.deepEqual([every.due('a'), every.due('a')], [5, 1], 'the first line of the next interval reports the four not logged');
  });
});
