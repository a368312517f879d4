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

/** A store whose calls answer nothing, but for those given. */
function stubStore(calls: Partial<EngineStore>): EngineStore {
  return {
    acceptsConditions: false,
    get: async () => undefined,
    set: async () => ({ applied: true, version: 'v' }),
    touch: async () => undefined,
    delete: async () => undefined,
    truncate: async () => undefined,
    deleteAll: async () => undefined,
    relocate: async () => undefined,
    ...calls,
  };
}

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
    const store = stubStore({
      set: async (_k, _v, ttl) => (ttls.push(ttl), { applied: true, version: 'v' }),
      touch: async (_k, ttl) => (ttls.push(ttl), { version: 'v', ttl }),
    });
    const ns = namespace(store, new Metrics({ engine: 'cassandra', processMetrics: false }));
    await ns.set('k', Buffer.from('x'), undefined, undefined);
    await ns.set('k', Buffer.from('x'), 60, undefined);
    await ns.set('k', Buffer.from('x'), 99_999, undefined);
    assert.deepEqual(ttls, [3600, 60, 3600]);
  });

  it('clamps a touch exactly as a write', async () => {
    const ttls: number[] = [];
    const store = stubStore({ touch: async (_k, ttl) => (ttls.push(ttl), { version: 'v', ttl }) });
    const ns = namespace(store, new Metrics({ engine: 'cassandra', processMetrics: false }));
    for (const requested of [undefined, 60, 3600, 3601, 99_999]) await ns.touch('k', requested);
    assert.deepEqual(ttls, [ns.ttlFor(undefined), 60, 3600, 3600, 3600]);
    assert.equal(ns.ttlFor(undefined), 3600);
  });

  it('goes ahead with a write whose comparison read fails, uncompared', async () => {
    let writes = 0;
    const store = stubStore({
      get: async () => {
        throw new StorageError('timeout', 'read timed out');
      },
      set: async () => (writes++, { applied: true, version: 'v' }),
    });
    const metrics = new Metrics({ engine: 'cassandra', processMetrics: false });
    const outcome = await namespace(store, metrics).set('k', Buffer.from('value'), undefined, undefined);
    assert.equal(outcome.applied, true);
    assert.equal(writes, 1);
    const text = await metrics.registry.metrics();
    assert.doesNotMatch(text, /^firkin_writes_compared_total\{namespace="sessions"\} [1-9]/m, 'not counted as compared');
    assert.match(text, /^firkin_storage_operations_total\{namespace="sessions",engine="cassandra",operation="compare_read",result="timeout"\} 1$/m);
    assert.match(text, /^firkin_written_bytes_total\{namespace="sessions"\} 5$/m);
  });

  it('tells the observer of an unsampled write what the store said, and turns a store that throws at once into a rejection counted as an error', async () => {
    const seen: (boolean | undefined)[] = [];
    let throwNow = false;
    let unchanged: boolean | undefined = true;
    const store = stubStore({
      get: async () => assert.fail('an unsampled write reads nothing'),
      set: (_k, _v, _ttl) => {
        if (throwNow) throw new TypeError('a bug in the store');
        return Promise.resolve({ applied: true, version: 'v', unchanged });
      },
    });
    const metrics = new Metrics({ engine: 'embedded', processMetrics: false });
    const instrumented = new InstrumentedStore(store, metrics, 'sessions', 'embedded');
    const ns = new Namespace(nsConfig, {
      store: instrumented,
      storeKnowsPrevious: true,
      sampleRead: (key) => instrumented.compareRead(key),
      compareSampleRate: 1,
      onWritten: (_ns, _key, _bytes, u) => seen.push(u),
    });
    await ns.set('k', Buffer.from('x'), undefined, undefined);
    unchanged = undefined;
    await ns.set('k', Buffer.from('y'), undefined, undefined);
    assert.deepEqual(seen, [true, undefined]);
    throwNow = true;
    const pending = ns.set('k', Buffer.from('z'), undefined, undefined); // must not throw here
    await assert.rejects(pending, /a bug in the store/);
    assert.deepEqual(seen, [true, undefined], 'a failed write is not observed');
    const text = await metrics.registry.metrics();
    assert.match(text, /^firkin_storage_operations_total\{namespace="sessions",engine="embedded",operation="set",result="applied"\} 2$/m);
    assert.match(text, /^firkin_storage_operations_total\{namespace="sessions",engine="embedded",operation="set",result="error"\} 1$/m);
    // Without an observer the store's own promise is answered; a throw still rejects.
    const bare = new Namespace(nsConfig, { store, storeKnowsPrevious: true, compareSampleRate: 0 });
    await assert.rejects(bare.set('k', Buffer.from('z'), undefined, undefined), /a bug in the store/);
    throwNow = false;
    assert.equal((await bare.set('k', Buffer.from('z'), undefined, undefined)).applied, true);
  });

  it('times every engine call the same way: a call that throws at once rejects and counts as an error, answers count by result', async () => {
    let throwNow = true;
    const store = stubStore({
      get: (key) => {
        if (throwNow) throw new TypeError('a bug in the engine');
        return Promise.resolve(key === 'k' ? { value: Buffer.from('v'), version: 'v', ttl: null } : undefined);
      },
      set: async () => ({ applied: false, version: 'v' }),
    });
    const metrics = new Metrics({ engine: 'cassandra', processMetrics: false });
    const instrumented = new InstrumentedStore(store, metrics, 'sessions', 'cassandra');
    const pending = instrumented.get('k'); // must not throw here
    await assert.rejects(pending, /a bug in the engine/);
    throwNow = false;
    assert.equal((await instrumented.get('k'))?.version, 'v');
    assert.equal(await instrumented.get('other'), undefined);
    assert.equal((await instrumented.set('k', Buffer.from('x'), 60, { kind: 'absent' })).applied, false);
    await instrumented.touch('k', 60);
    const text = await metrics.registry.metrics();
    for (const [operation, result] of [['get', 'error'], ['get', 'hit'], ['get', 'miss'], ['add', 'rejected'], ['touch', 'miss']]) {
      assert.match(text, new RegExp(`^firkin_storage_operations_total\\{namespace="sessions",engine="cassandra",operation="${operation}",result="${result}"\\} 1$`, 'm'), `${operation} ${result}`);
    }
  });
});
