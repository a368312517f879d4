import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SpaceSaving } from '../../src/insight/space-saving.js';

/** A deterministic stream: a few heavy keys among many rare ones. */
function* stream(n: number, distinct: number): Generator<string> {
  let seed = 42; // mulberry32
  const next = (): number => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (t ^ (t >>> 14)) >>> 0;
  };
  for (let i = 0; i < n; i++) {
    const r = next() % 100;
    if (r < 10) yield 'heavy-a'; // 10 %
    else if (r < 15) yield 'heavy-b'; // 5 %
    else if (r < 17) yield 'heavy-c'; // 2 %
    else yield `rare-${next() % distinct}`;
  }
}

describe('Space-Saving sketch', () => {
  it('finds the heaviest keys in bounded memory, with counts bracketing the truth', () => {
    const sketch = new SpaceSaving<string>(200);
    const truth = new Map<string, number>();
    let maxSize = 0;
    for (const key of stream(200_000, 100_000)) {
      sketch.add(key);
      truth.set(key, (truth.get(key) ?? 0) + 1);
      maxSize = Math.max(maxSize, sketch.size);
    }
    assert.equal(maxSize, 200, 'never more counters than its capacity');
    assert.ok(truth.size > 50_000, `the stream had ${truth.size} distinct keys`);
    assert.equal(sketch.observed, 200_000);
    const top = sketch.top(3);
    assert.deepEqual(top.map((e) => e.item), ['heavy-a', 'heavy-b', 'heavy-c']);
    for (const e of sketch.top(200)) {
      const real = truth.get(e.item) ?? 0;
      assert.ok(e.count >= real, `${e.item}: ${e.count} < true ${real}`);
      assert.ok(e.count - e.error <= real, `${e.item}: lower bound ${e.count - e.error} > true ${real}`);
    }
  });

  it('is exact while the keys fit', () => {
    const sketch = new SpaceSaving<string>(10);
    for (const [key, n] of [['a', 5], ['b', 3], ['c', 7]] as const) for (let i = 0; i < n; i++) sketch.add(key);
    assert.deepEqual(sketch.top(10), [
      { item: 'c', count: 7, error: 0 },
      { item: 'a', count: 5, error: 0 },
      { item: 'b', count: 3, error: 0 },
    ]);
  });

  it('rejects a capacity below 1', () => {
    assert.throws(() => new SpaceSaving(0), RangeError);
  });
});
