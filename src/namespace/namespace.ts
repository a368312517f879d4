/**
 * A namespace: a base URI, a retention policy and a store of its own. The same
 * key in two namespaces is two values. The server routes a request to one
 * namespace; the namespace applies its policy and talks to its storage.
 */
import type { NamespaceConfig } from '../config/types.js';
import { MAX_TTL_SECONDS } from '../config/schema.js';
import type { WriteInsight } from '../insight/write-insight.js';
import { InstrumentedStore } from '../metrics/instrumented-store.js';
import type { Metrics } from '../metrics/metrics.js';
import type { Condition, SetOutcome, StorageEngine, StoredValue, Touched } from '../storage/engine.js';

/** What a namespace reports its writes to. */
export interface NamespaceObservers {
  readonly metrics: Metrics;
  readonly insight: WriteInsight;
  /** Fraction of plain writes preceded by a read when the engine cannot report the replaced value itself. */
  readonly compareSampleRate: number;
}

export class Namespace {
  readonly name: string;
  readonly baseUri: string;
  /** Seconds; 0: values never expire. */
  readonly defaultTtl: number;
  /** Who may use it (enforced by the server, which sees the client). */
  readonly access: NamespaceConfig['access'];
  readonly rateLimit: NamespaceConfig['rateLimit'];

  /**
   * @param acceptsConditions whether writes with a condition (If-Match, If-None-Match) are
   *   served: always on the embedded engine, on Cassandra only with `conditional_writes`,
   *   where every write and delete is then a lightweight transaction (docs/cassandra.md).
   */
  constructor(
    config: NamespaceConfig,
    private readonly store: InstrumentedStore,
    private readonly engineKnowsPrevious: boolean,
    private readonly observers: Pick<NamespaceObservers, 'insight' | 'compareSampleRate'>,
    readonly acceptsConditions = true,
  ) {
    this.name = config.name;
    this.baseUri = config.baseUri;
    this.defaultTtl = config.defaultTtl;
    this.access = config.access;
    this.rateLimit = config.rateLimit;
  }

  /**
   * The TTL a write gets: a client may shorten the namespace's retention, never
   * lengthen it. With no namespace TTL (0), the client's choice stands, up to
   * Cassandra's 20-year ceiling.
   */
  ttlFor(requested: number | undefined): number {
    if (requested === undefined) return this.defaultTtl;
    return Math.min(requested, this.defaultTtl === 0 ? MAX_TTL_SECONDS : this.defaultTtl);
  }

  get(key: string): Promise<StoredValue | undefined> {
    return this.store.get(key);
  }

  async set(key: string, value: Buffer, requestedTtl: number | undefined, condition: Condition | undefined): Promise<SetOutcome> {
    // To count writes that repeat the stored value, an engine that cannot tell cheaply
    // (Cassandra's blind writes) reads a sample of keys first.
    let sampled: string | null | undefined;
    if (
      !this.engineKnowsPrevious &&
      condition?.kind !== 'absent' &&
      condition?.kind !== 'version' &&
      this.observers.compareSampleRate > 0 &&
      Math.random() < this.observers.compareSampleRate
    ) {
      // Only a statistic: if the read fails, the write goes ahead uncompared.
      sampled = await this.store.compareRead(key).then(
        (found) => found?.version ?? null,
        () => undefined,
      );
    }
    const outcome = await this.store.set(key, value, this.ttlFor(requestedTtl), condition);
    if (outcome.applied) {
      const previous = outcome.previousVersion !== undefined ? outcome.previousVersion : sampled;
      this.observers.insight.written(this.name, key, value.length, previous === undefined ? undefined : previous === outcome.version);
    }
    return outcome;
  }

  /** A new lifetime for the live value, clamped as a write's; undefined when absent or expired. */
  touch(key: string, requestedTtl: number | undefined): Promise<Touched | undefined> {
    return this.store.touch(key, this.ttlFor(requestedTtl));
  }

  delete(key: string): Promise<void> {
    return this.store.delete(key);
  }

  /** Remove every value of this namespace (the admin truncation: every session signed out). */
  truncate(): Promise<void> {
    return this.store.truncate();
  }
}

export function openNamespaces(
  configs: readonly NamespaceConfig[],
  engine: StorageEngine,
  observers: NamespaceObservers,
): Namespace[] {
  return configs.map(
    (c) =>
      new Namespace(
        c,
        new InstrumentedStore(
          engine.store({ name: c.name, table: c.table, conditionalWrites: c.conditionalWrites, serialConsistency: c.serialConsistency }),
          observers.metrics,
          c.name,
          engine.kind,
        ),
        engine.knowsPreviousVersion,
        observers,
        engine.kind !== 'cassandra' || c.conditionalWrites,
      ),
  );
}
