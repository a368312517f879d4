import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BATCH, FLUSH_AFTER_MS, WriteInsight } from '../../src/insight/write-insight.js';
import { KeyHasher } from '../../src/log/key-hash.js';

const hasher = new KeyHasher();
const keyHash = (namespace: string, key: string): string => hasher.hash(namespace, key);

const config = { windowSeconds: 60, sketchSize: 50, topKeys: 3, compareSampleRate: 0 };

describe('write insight', () => {
  it('ranks keys per window by hash, never in clear, and rotates windows', () => {
    let now = Date.parse('2026-01-01T00:00:00Z');
    const insight = new WriteInsight(config, hasher, () => now);
    const hot = 'enwiki:MWSession:0123456789abcdef0123456789abcdef';
    for (let i = 0; i < 9; i++) insight.written('sessions', hot);
    for (let i = 0; i < 4; i++) insight.written('sessions', 'warm');
    insight.written('other', hot);

    let report = insight.report();
    assert.equal(report.windows.length, 1);
    const [current] = report.windows;
    assert.equal(current!.complete, false);
    assert.equal(current!.writes, 14);
    assert.deepEqual(
      current!.top.map((e) => [e.namespace, e.key_hash, e.writes]),
      [
        ['sessions', keyHash('sessions', hot), 9],
        ['sessions', keyHash('sessions', 'warm'), 4],
        ['other', keyHash('other', hot), 1],
      ],
    );
    assert.ok(!JSON.stringify(report).includes('MWSession'), 'the report never holds a key');
    assert.notEqual(keyHash('sessions', hot), keyHash('other', hot), 'the namespace is part of the hash');

    now += 61_000; // into the next window
    insight.written('sessions', 'warm');
    report = insight.report();
    assert.deepEqual(report.windows.map((w) => [w.complete, w.writes]), [[false, 1], [true, 14]]);

    now += 10 * 60_000; // long silence: both windows are empty
    report = insight.report();
    assert.deepEqual(report.windows.map((w) => [w.complete, w.writes]), [[false, 0], [true, 0]]);
  });

  it('counts noted writes at once: when the queue is full, after FLUSH_AFTER_MS, or before a report', async () => {
    let hashed = 0;
    const counting = new KeyHasher();
    const original = counting.hash.bind(counting);
    counting.hash = (namespace, key) => {
      hashed++;
      return original(namespace, key);
    };
    const insight = new WriteInsight(config, counting);
    for (let i = 0; i < BATCH - 1; i++) insight.written('sessions', `k${i % 7}`);
    assert.equal(hashed, 0, 'nothing is hashed on the request path');
    insight.written('sessions', 'k0');
    assert.equal(hashed, BATCH, 'a full queue is counted at once (the queue never holds more than BATCH)');
    insight.written('sessions', 'late');
    assert.equal(hashed, BATCH);
    await new Promise((r) => setTimeout(r, FLUSH_AFTER_MS + 50));
    assert.equal(hashed, BATCH + 1, 'a noted write is counted within FLUSH_AFTER_MS');
    insight.written('sessions', 'k1');
    const report = insight.report();
    assert.equal(hashed, BATCH + 2, 'a report counts what is queued first');
    assert.equal(report.windows[0]!.writes, BATCH + 2);
  });

  it('counts a write in the window it was noted in, even when the queue is counted after the window ended', () => {
    let now = Date.parse('2026-01-01T00:00:59.950Z'); // 50 ms before the end of a 60 s window
    const insight = new WriteInsight(config, hasher, () => now);
    for (let i = 0; i < 3; i++) insight.written('sessions', 'before-the-end');
    now += 100; // the queue has not been counted yet: the next write counts it first
    insight.written('sessions', 'after-the-end');
    const report = insight.report();
    assert.deepEqual(
      report.windows.map((w) => [w.complete, w.writes, w.top.map((e) => e.key_hash)]),
      [
        [false, 1, [keyHash('sessions', 'after-the-end')]],
        [true, 3, [keyHash('sessions', 'before-the-end')]],
      ],
    );
  });
});
