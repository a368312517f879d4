/**
 * The primary's merge of the workers' top keys (src/cluster.ts): whatever the
 * streams and however they are split between workers, every merged count is an
 * upper bound of the key's true writes and `writes - max_overcount` a lower
 * bound, and a key left out wrote at most `unlisted_max_writes`.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { mergeTopKeys } from '../../src/cluster.js';
import { WriteInsight } from '../../src/insight/write-insight.js';
import { KeyHasher } from '../../src/log/key-hash.js';

const hasher = new KeyHasher();
const keyHash = (namespace: string, key: string): string => hasher.hash(namespace, key);
const NOW = Date.parse('2026-01-01T00:00:30Z');

function worker(sketchSize: number, writes: readonly string[]): WriteInsight {
  const insight = new WriteInsight({ windowSeconds: 60, sketchSize, topKeys: 3, compareSampleRate: 0 }, hasher, () => NOW);
  for (const key of writes) insight.written('sessions', key);
  return insight;
}

describe('merging the workers\u2019 top keys', () => {
  it('keeps every listed count an upper bound and count - overcount a lower bound', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.integer({ min: 0, max: 11 }), { maxLength: 60 }), { minLength: 1, maxLength: 4 }),
        fc.integer({ min: 2, max: 6 }),
        (streams, sketchSize) => {
          const perWorker = streams.map((s) => s.map((k) => `session-key-${k}`));
          const truth = new Map<string, number>();
          for (const key of perWorker.flat()) truth.set(keyHash('sessions', key), (truth.get(keyHash('sessions', key)) ?? 0) + 1);
          const reports = perWorker.map((s) => worker(sketchSize, s).report(sketchSize));
          const merged = mergeTopKeys(reports, 3)!;
          const [window] = merged.windows;
          assert.equal(window!.writes, perWorker.flat().length);
          for (const e of window!.top) {
            const actual = truth.get(e.key_hash) ?? 0;
            assert.ok(e.writes >= actual, `upper bound: ${e.writes} >= ${actual}`);
            assert.ok(e.writes - e.max_overcount <= actual, `lower bound: ${e.writes - e.max_overcount} <= ${actual}`);
          }
          const listed = new Set(window!.top.map((e) => e.key_hash));
          for (const [hash, count] of truth) {
            if (!listed.has(hash)) assert.ok(count <= window!.unlisted_max_writes, `unlisted ${count} <= ${window!.unlisted_max_writes}`);
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it('ranks a key that is second everywhere first overall, which merging each worker\u2019s top list alone would miss', () => {
    // Each worker has its own hottest key; `shared` is second on both and first in sum.
    const a = worker(3, [...Array(5).fill('hot-a'), ...Array(4).fill('shared'), 'x', 'y']);
    const b = worker(3, [...Array(5).fill('hot-b'), ...Array(4).fill('shared'), 'z', 'w']);
    const merged = mergeTopKeys([a.report(3), b.report(3)], 1)!;
    const top = merged.windows[0]!.top[0]!;
    assert.equal(top.key_hash, keyHash('sessions', 'shared'));
    assert.ok(top.writes >= 8);
  });
});
