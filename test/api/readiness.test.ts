/** Readiness probes: bounded by their timeout, shared by concurrent checks, off while draining. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Readiness } from '../../src/api/readiness.js';
import type { StorageEngine } from '../../src/storage/engine.js';
import { StorageError } from '../../src/storage/errors.js';

const state = () => ({ draining: false });

function engine(probe: () => Promise<void>): StorageEngine & { calls: number } {
  const e = {
    kind: 'cassandra' as const,
    knowsPreviousVersion: false,
    calls: 0,
    store: () => {
      throw new Error('unused');
    },
    probe: () => {
      e.calls++;
      return probe();
    },
    close: async () => undefined,
  };
  return e;
}

describe('readiness', () => {
  it('says not ready when the probe hangs past the timeout', async () => {
    const e = engine(() => new Promise(() => undefined));
    const r = new Readiness(e, 100, state());
    const started = Date.now();
    const result = await r.check();
    assert.equal(result.ready, false);
    assert.match(result.ready ? '' : result.reason, /did not answer within 100 ms/);
    assert.ok(Date.now() - started < 1000);
  });

  it('shares one probe among concurrent checks, and probes again afterwards', async () => {
    const e = engine(() => new Promise((r) => setTimeout(r, 50)));
    const r = new Readiness(e, 1000, state());
    const results = await Promise.all(Array.from({ length: 20 }, () => r.check()));
    assert.ok(results.every((x) => x.ready));
    assert.equal(e.calls, 1);
    await r.check();
    assert.equal(e.calls, 2);
  });

  it('says not ready once draining, without probing', async () => {
    const e = engine(async () => undefined);
    const r = new Readiness(e, 1000, state());
    r.drain();
    assert.deepEqual(await r.check(), { ready: false, reason: 'shutting down' });
    assert.equal(e.calls, 0);
  });

  it('names the category of a permanent failure, apart from a transient one', async () => {
    const metrics = state();
    const permanent = await new Readiness(
      engine(() => Promise.reject(new StorageError('permanent', 'the table does not exist (missing-table; "ks"."t" probe)', { category: 'missing-table' }))),
      1000,
      state(),
    ).check();
    assert.equal(permanent.ready, false);
    assert.equal(permanent.ready ? undefined : permanent.permanent, 'missing-table');
    assert.match(permanent.ready ? '' : permanent.reason, /refuses requests: .*missing-table/);
    const transient = await new Readiness(engine(() => Promise.reject(new Error('Cassandra request failed'))), 1000, state()).check();
    assert.equal(transient.ready ? 'ready' : transient.permanent, undefined);
  });
});
