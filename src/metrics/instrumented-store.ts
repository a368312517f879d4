/**
 * A KeyValueStore that times every call into the storage engine and counts its
 * outcome, so an operator can see how much of a request's time is the engine.
 * Wrapped around each namespace's store at assembly (src/service.ts): the data path
 * itself knows only the storage interface.
 */
import type { Condition, EngineStore, SetOutcome, StoredValue, Touched } from '../storage/engine.js';
import { StorageError, type StorageFailure } from '../storage/errors.js';
import type { Metrics, StorageSeries } from './metrics.js';

const SET_OPERATION: Record<Condition['kind'] | 'none', string> = {
  none: 'set',
  absent: 'add',
  present: 'replace',
  version: 'cas',
};

/** The `result` label of a failed call, per kind of failure (`error`: a permanent failure or a bug). */
const FAILURE_RESULT: Readonly<Record<StorageFailure, string>> = {
  unavailable: 'unavailable',
  timeout: 'timeout',
  'outcome-unknown': 'unknown',
  full: 'full',
  permanent: 'error',
  corrupt: 'corrupt',
};

export class InstrumentedStore implements EngineStore {
  readonly acceptsConditions: boolean;
  /** This store's series, by operation and result (constant strings: no key built per call). */
  private readonly series = new Map<string, Map<string, StorageSeries>>();
  private readonly getHit: StorageSeries;
  private readonly getMiss: StorageSeries;

  constructor(
    private readonly inner: EngineStore,
    private readonly metrics: Metrics,
    private readonly namespace: string,
    private readonly engine: string,
  ) {
    this.acceptsConditions = inner.acceptsConditions;
    this.getHit = metrics.storageSeries(namespace, engine, 'get', 'hit');
    this.getMiss = metrics.storageSeries(namespace, engine, 'get', 'miss');
  }

  get(key: string): Promise<StoredValue | undefined> {
    // The data path's hottest call: one reaction, no async wrapper (timed()'s, issue 24).
    const started = performance.now();
    return this.inner.get(key).then(
      (found) => {
        record(found === undefined ? this.getMiss : this.getHit, started);
        return found;
      },
      (err: unknown) => this.failed('get', started, err),
    );
  }

  /** A read made only to learn whether the next write repeats the stored value. */
  compareRead(key: string): Promise<StoredValue | undefined> {
    return this.timed('compare_read', () => this.inner.get(key), (found) => (found === undefined ? 'miss' : 'hit'));
  }

  set(key: string, value: Buffer, ttlSeconds: number, condition?: Condition): Promise<SetOutcome> {
    // Every write's call: one reaction, as get's (issue 24).
    const started = performance.now();
    const operation = SET_OPERATION[condition?.kind ?? 'none'];
    let pending: Promise<SetOutcome>;
    try {
      pending = this.inner.set(key, value, ttlSeconds, condition);
    } catch (err) {
      pending = Promise.reject(err);
    }
    return pending.then(
      (outcome) => {
        record(this.seriesOf(operation, outcome.applied ? 'applied' : 'rejected'), started);
        return outcome;
      },
      (err: unknown) => this.failed(operation, started, err),
    );
  }

  touch(key: string, ttlSeconds: number, edit?: (value: Buffer) => Buffer | undefined): Promise<Touched | undefined> {
    return this.timed('touch', () => this.inner.touch(key, ttlSeconds, edit), (touched) => (touched === undefined ? 'miss' : 'applied'));
  }

  delete(key: string): Promise<void> {
    return this.timed('delete', () => this.inner.delete(key), () => 'ok');
  }

  deleteAll(keys: readonly string[]): Promise<void> {
    return this.timed('delete', () => this.inner.deleteAll(keys), () => 'ok');
  }

  relocate(
    from: string,
    to: string,
    rewrite: (value: Buffer) => Buffer,
    ttlSeconds: number,
    edit?: (value: Buffer) => Buffer | undefined,
  ): Promise<Touched | undefined> {
    return this.timed('relocate', () => this.inner.relocate(from, to, rewrite, ttlSeconds, edit), (touched) => (touched === undefined ? 'miss' : 'applied'));
  }

  truncate(): Promise<void> {
    return this.timed('truncate', () => this.inner.truncate(), () => 'ok');
  }

  private failed(operation: string, started: number, err: unknown): never {
    const outcome = err instanceof StorageError ? FAILURE_RESULT[err.kind] : 'error';
    record(this.seriesOf(operation, outcome), started);
    throw err;
  }

  private async timed<T>(operation: string, call: () => Promise<T>, result: (value: T) => string): Promise<T> {
    const started = performance.now();
    try {
      const value = await call();
      record(this.seriesOf(operation, result(value)), started);
      return value;
    } catch (err) {
      this.failed(operation, started, err);
    }
  }

  private seriesOf(operation: string, result: string): StorageSeries {
    let byResult = this.series.get(operation);
    if (byResult === undefined) this.series.set(operation, (byResult = new Map()));
    let s = byResult.get(result);
    if (s === undefined) byResult.set(result, (s = this.metrics.storageSeries(this.namespace, this.engine, operation, result)));
    return s;
  }
}

/** One call, counted and timed from `started` (performance.now()). */
function record(series: StorageSeries, started: number): void {
  series.count.inc();
  series.duration.observe((performance.now() - started) / 1000);
}
