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

/** The `result` label of a call that answered, per kind of answer. */
const hitOrMiss = (found: unknown): string => (found === undefined ? 'miss' : 'hit');
const appliedOrMiss = (touched: unknown): string => (touched === undefined ? 'miss' : 'applied');
const appliedOrRejected = (outcome: SetOutcome): string => (outcome.applied ? 'applied' : 'rejected');
const done = (): string => 'ok';

export class InstrumentedStore implements EngineStore {
  readonly acceptsConditions: boolean;
  /** This store's series, by operation and result (constant strings: no key built per call). */
  private readonly series = new Map<string, Map<string, StorageSeries>>();

  constructor(
    private readonly inner: EngineStore,
    private readonly metrics: Metrics,
    private readonly namespace: string,
    private readonly engine: string,
  ) {
    this.acceptsConditions = inner.acceptsConditions;
  }

  get(key: string): Promise<StoredValue | undefined> {
    return this.timed('get', () => this.inner.get(key), hitOrMiss);
  }

  /** A read made only to learn whether the next write repeats the stored value. */
  compareRead(key: string): Promise<StoredValue | undefined> {
    return this.timed('compare_read', () => this.inner.get(key), hitOrMiss);
  }

  set(key: string, value: Buffer, ttlSeconds: number, condition?: Condition): Promise<SetOutcome> {
    return this.timed(SET_OPERATION[condition?.kind ?? 'none'], () => this.inner.set(key, value, ttlSeconds, condition), appliedOrRejected);
  }

  touch(key: string, ttlSeconds: number, edit?: (value: Buffer) => Buffer | undefined): Promise<Touched | undefined> {
    return this.timed('touch', () => this.inner.touch(key, ttlSeconds, edit), appliedOrMiss);
  }

  delete(key: string): Promise<void> {
    return this.timed('delete', () => this.inner.delete(key), done);
  }

  deleteAll(keys: readonly string[]): Promise<void> {
    return this.timed('delete', () => this.inner.deleteAll(keys), done);
  }

  relocate(
    from: string,
    to: string,
    rewrite: (value: Buffer) => Buffer,
    ttlSeconds: number,
    edit?: (value: Buffer) => Buffer | undefined,
  ): Promise<Touched | undefined> {
    return this.timed('relocate', () => this.inner.relocate(from, to, rewrite, ttlSeconds, edit), appliedOrMiss);
  }

  truncate(): Promise<void> {
    return this.timed('truncate', () => this.inner.truncate(), done);
  }

  /**
   * The engine's call, counted and timed by its outcome: one reaction on the engine's
   * promise, not an async function (every GET and POST passes here, issue 24). A call that
   * throws at once rejects, as from an async function, and counts as failed.
   */
  private timed<T>(operation: string, call: () => Promise<T>, result: (value: T) => string): Promise<T> {
    const started = performance.now();
    let pending: Promise<T>;
    try {
      pending = call();
    } catch (err) {
      pending = Promise.reject(err);
    }
    return pending.then(
      (value) => {
        let outcome: string;
        try {
          outcome = result(value);
        } catch (err) {
          return this.failed(operation, started, err); // a malformed answer: counted as an error
        }
        record(this.seriesOf(operation, outcome), started);
        return value;
      },
      (err: unknown) => this.failed(operation, started, err),
    );
  }

  private failed(operation: string, started: number, err: unknown): never {
    const outcome = err instanceof StorageError ? FAILURE_RESULT[err.kind] : 'error';
    record(this.seriesOf(operation, outcome), started);
    throw err;
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
