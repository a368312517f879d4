/**
 * The request path's counters and histograms (src/metrics/series.ts) export exactly
 * what prom-client's own Counter and Histogram export for the same observations:
 * the same text exposition, and the same JSON, which the primary sums across workers.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { AggregatorRegistry, Counter, Histogram, Registry } from 'prom-client';
import { FastCounter, FastHistogram } from '../../src/metrics/series.js';

const BUCKETS = [0.001, 0.01, 0.1, 1];
const LABELS = ['code', 'method'] as const;
const label = fc.record({ code: fc.constantFrom('200', '404', '503'), method: fc.constantFrom('GET', 'PUT') });
/** Values on, between, below and beyond the bounds. */
const value = fc.oneof(fc.constantFrom(0, ...BUCKETS, 2, 1e9), fc.double({ min: 0, max: 5, noNaN: true }));

function pair() {
  const theirs = new Registry();
  const ours = new Registry();
  return {
    theirs,
    ours,
    theirCounter: new Counter({ name: 'c_total', help: 'a counter', labelNames: LABELS, registers: [theirs] }),
    theirHistogram: new Histogram({ name: 'h_seconds', help: 'a histogram', labelNames: LABELS, buckets: BUCKETS, registers: [theirs] }),
    ourCounter: new FastCounter({ name: 'c_total', help: 'a counter', labelNames: LABELS, registry: ours }),
    ourHistogram: new FastHistogram({ name: 'h_seconds', help: 'a histogram', labelNames: LABELS, buckets: BUCKETS, registry: ours }),
  };
}

describe('FastCounter and FastHistogram', () => {
  it('export the same text and JSON as prom-client for any observations', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(label, value, fc.integer({ min: 1, max: 1000 })), { maxLength: 40 }), async (events) => {
        const p = pair();
        for (const [labels, v, n] of events) {
          p.theirHistogram.labels(labels).observe(v);
          p.ourHistogram.labels(labels).observe(v);
          p.theirCounter.labels(labels).inc(n);
          p.ourCounter.labels(labels).inc(n);
        }
        assert.equal(await p.ours.metrics(), await p.theirs.metrics());
        // null vs absent exemplars aside, the JSON is the same.
        const strip = (json: object[]) => JSON.parse(JSON.stringify(json, (k, v) => (k === 'exemplar' ? undefined : v)));
        assert.deepEqual(strip(await p.ours.getMetricsAsJSON()), strip(await p.theirs.getMetricsAsJSON()));
      }),
      { numRuns: 200 },
    );
  });

  it('are summed across workers by the primary as prom-client sums its own', async () => {
    const workers = [pair(), pair()];
    workers.forEach((p, i) => {
      for (const [labels, v] of [[{ code: '200', method: 'GET' }, 0.005 * (i + 1)], [{ code: '404', method: 'GET' }, 0.5]] as const) {
        p.theirHistogram.labels(labels).observe(v);
        p.ourHistogram.labels(labels).observe(v);
        p.theirCounter.labels(labels).inc(i + 1);
        p.ourCounter.labels(labels).inc(i + 1);
      }
    });
    const merged = async (side: 'ours' | 'theirs') =>
      AggregatorRegistry.aggregate(await Promise.all(workers.map((p) => p[side].getMetricsAsJSON()))).metrics();
    const ours = await merged('ours');
    assert.equal(ours, await merged('theirs'));
    assert.match(ours, /^c_total\{code="200",method="GET"\} 3$/m);
    assert.match(ours, /^h_seconds_bucket\{le="0.01",code="200",method="GET"\} 2$/m);
  });

  it('export a series only once it counted, as prom-client creates one on its first inc() or observe()', async () => {
    const p = pair();
    p.ourCounter.labels({ code: '200', method: 'GET' });
    p.ourHistogram.labels({ code: '200', method: 'GET' });
    p.theirCounter.labels({ code: '200', method: 'GET' });
    p.theirHistogram.labels({ code: '200', method: 'GET' });
    assert.equal(await p.ours.metrics(), await p.theirs.metrics());
    assert.doesNotMatch(await p.ours.metrics(), /\{/);
    p.ourCounter.labels({ code: '404', method: 'GET' }).inc(0);
    p.theirCounter.labels({ code: '404', method: 'GET' }).inc(0);
    assert.equal(await p.ours.metrics(), await p.theirs.metrics());
    assert.match(await p.ours.metrics(), /^c_total\{code="404",method="GET"\} 0$/m);
  });

  it('keep one series per label set; a reset zeroes them and they count on afterwards', async () => {
    const { ours, ourCounter, ourHistogram } = pair();
    const a = ourCounter.labels({ code: '200', method: 'GET' });
    const h = ourHistogram.labels({ code: '200', method: 'GET' });
    assert.equal(ourCounter.labels({ method: 'GET', code: '200' }), a);
    a.inc(2);
    h.observe(0.5);
    assert.match(await ours.metrics(), /^c_total\{code="200",method="GET"\} 2$/m);
    ours.resetMetrics();
    assert.doesNotMatch(await ours.metrics(), /\{/, 'nothing exported after a reset');
    a.inc();
    h.observe(0.005);
    const text = await ours.metrics();
    assert.match(text, /^c_total\{code="200",method="GET"\} 1$/m);
    assert.match(text, /^h_seconds_count\{code="200",method="GET"\} 1$/m);
    assert.match(text, /^h_seconds_sum\{code="200",method="GET"\} 0.005$/m);
  });

  it('ignore values no timer or length produces (NaN, infinities, negative counts)', async () => {
    const { ours, ourCounter, ourHistogram } = pair();
    const h = ourHistogram.labels({ code: '200', method: 'GET' });
    h.observe(0.5);
    for (const v of [Number.NaN, Infinity, -Infinity]) h.observe(v);
    for (const n of [Number.NaN, Infinity, -1]) ourCounter.labels({ code: '200', method: 'GET' }).inc(n);
    const text = await ours.metrics();
    assert.match(text, /^h_seconds_sum\{code="200",method="GET"\} 0.5$/m);
    assert.match(text, /^h_seconds_count\{code="200",method="GET"\} 1$/m);
    assert.doesNotMatch(text, /c_total\{/);
  });
});
