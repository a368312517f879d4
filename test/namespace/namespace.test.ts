/** A namespace's write path: TTL clamp and the write-insight comparison. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Metrics } from '../../src/metrics/metrics.js';
import { InstrumentedStore } from '../../src/metrics/instrumented-store.js';
import { Namespace } from '../../src/namespace/namespace.js';
import type { EngineStore } from '../../src/storage/engine.js';
import { StorageError } from '../../src/storage/errors.js';

const nsConfig = {
  name: 'sessions',
  baseUri: '/s/',
  defaultTtl: 3600,
  table: 't',
  access: undefined,
  rateLimit: undefined,
  conditionalWrites: false,
  serialConsistency: 'local_serial',
  sealing: 'plain',
} as const;

/** As the service assembles it on Cassandra: an instrumented store, every plain write compared. */
function namespace(store: EngineStore, metrics: Metrics): Namespace {
  const instrumented = new InstrumentedStore(store, metrics, 'sessions', 'cassandra');
  return new Namespace(nsConfig, {
    store: instrumented,
    storeKnowsPrevious: false,
    sampleRead: (key) => instrumented.compareRead(key),
    compareSampleRate: 1,
    onWritten: (ns, _key, bytes, unchanged) => metrics.written(ns, bytes, unchanged),
  });
}

describe('namespace writes', () => {
  it('clamps the client TTL to the namespace retention', async () => {
    const ttls: number[] = [];
    const store: EngineStore = {
      acceptsConditions: false,
      get: async () => undefined,
      set: async (_k, _v, ttl) => (ttls.push(ttl), { applied: true, version: 'v' }),
      touch: async (_k, ttl) => (ttls.push(ttl), { version: 'v', ttl }),
      delete: async () => undefined,
      truncate: async () => undefined,
      deleteAll: async () => undefined,
      relocate: async () => undefined,
    };
    const ns = namespace(store, new Metrics({ engine: 'cassandra', processMetrics: false }));
    await ns.set('k', Buffer.from('x'), undefined, undefined);
    await ns.set('k', Buffer.from('x'), 60, undefined);
    await ns.set('k', Buffer.from('x'), 99_999, undefined);
    assert.deepEqual(ttls, [3600, 60, 3600]);
  });

  it('clamps a touch exactly as a write', async () => {
    const ttls: number[] = [];
    const store: EngineStore = {
      acceptsConditions: false,
      get: async () => undefined,
      set: async () => ({ applied: true, version: 'v' }),
      touch: async (_k, ttl) => (ttls.push(ttl), { version: 'v', ttl }),
      delete: async () => undefined,
      truncate: async () => undefined,
      deleteAll: async () => undefined,
      relocate: async () => undefined,
    };
    const ns = namespace(store, new Metrics({ engine: 'cassandra', processMetrics: false }));
    for (const requested of [undefined, 60, 3600, 3601, 99_999]) await ns.touch('k', requested);
    assert.deepEqual(ttls, [ns.ttlFor(undefined), 60, 3600, 3600, 3600]);
    assert.equal(ns.ttlFor(undefined), 3600);
  });

  it('goes ahead with a write whose comparison read fails, uncompared', async () => {
    let writes = 0;
    const store: EngineStore = {
      acceptsConditions: false,
      get: async () => {
        throw new StorageError('timeout', 'read timed out');
      },
      set: async () => (writes++, { applied: true, version: 'v' }),
      touch: async () => undefined,
      delete: async () => undefined,
      truncate: async () => undefined,
      deleteAll: async () => undefined,
      relocate: async () => undefined,
    };
    const metrics = new Metrics({ engine: 'cassandra', processMetrics: false });
    const outcome = await namespace(store, metrics).set('k', Buffer.from('value'), undefined, undefined);
    assert.equal(outcome.applied, true);
    assert.equal(writes, 1);
    const text = await metrics.registry.metrics();
    assert.doesNotMatch(text, /^firkin_writes_compared_total\{namespace="sessions"\} [1-9]/m, 'not counted as compared');
    assert.match(text, /^firkin_storage_operations_total\{namespace="sessions",engine="cassandra",operation="compare_read",result="timeout"\} 1$/m);
    assert.match(text, /^firkin_written_bytes_total\{namespace="sessions"\} 5$/m);
  });
});
