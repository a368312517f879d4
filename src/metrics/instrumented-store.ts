/**
 * A KeyValueStore that times every call into the storage engine and counts its
 * outcome, so an operator can see how much of a request's time is the engine.
 */
import {
  StorageFullError,
  StorageOutcomeUnknownError,
  StorageUnavailableError,
  type Condition,
  type KeyValueStore,
  type SetOutcome,
  type StoredValue,
  type Touched,
} from '../storage/engine.js';
import type { Metrics } from './metrics.js';

const SET_OPERATION: Record<Condition['kind'] | 'none', string> = {
  none: 'set',
  absent: 'add',
  present: 'replace',
  version: 'cas',
};

export class InstrumentedStore implements KeyValueStore {
  constructor(
    private readonly inner: KeyValueStore,
    private readonly metrics: Metrics,
    private readonly namespace: string,
    private readonly engine: string,
  ) {}

  get(key: string): Promise<StoredValue | undefined> {
    return this.timed('get', () => this.inner.get(key), (found) => (found === undefined ? 'miss' : 'hit'));
  }

  /** A read made only to learn whether the next write repeats the stored value. */
  compareRead(key: string): Promise<StoredValue | undefined> {
    return this.timed('compare_read', () => this.inner.get(key), (found) => (found === undefined ? 'miss' : 'hit'));
  }

  set(key: string, value: Buffer, ttlSeconds: number, condition?: Condition): Promise<SetOutcome> {
    return this.timed(
      SET_OPERATION[condition?.kind ?? 'none'],
      () => this.inner.set(key, value, ttlSeconds, condition),
      (outcome) => (outcome.applied ? 'applied' : 'rejected'),
    );
  }

  touch(key: string, ttlSeconds: number): Promise<Touched | undefined> {
    return this.timed('touch', () => this.inner.touch(key, ttlSeconds), (touched) => (touched === undefined ? 'miss' : 'applied'));
  }

  delete(key: string): Promise<void> {
    return this.timed('delete', () => this.inner.delete(key), () => 'ok');
  }

  truncate(): Promise<void> {
    return this.timed('truncate', () => this.inner.truncate(), () => 'ok');
  }

  private async timed<T>(operation: string, call: () => Promise<T>, result: (value: T) => string): Promise<T> {
    const started = performance.now();
    try {
      const value = await call();
      this.metrics.storage(this.namespace, this.engine, operation, result(value), (performance.now() - started) / 1000);
      return value;
    } catch (err) {
      const outcome =
        err instanceof StorageUnavailableError
          ? 'unavailable'
          : err instanceof StorageOutcomeUnknownError
            ? 'unknown'
            : err instanceof StorageFullError
              ? 'full'
              : 'error';
      this.metrics.storage(this.namespace, this.engine, operation, outcome, (performance.now() - started) / 1000);
      throw err;
    }
  }
}
