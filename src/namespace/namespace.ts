/**
 * A namespace: a base URI, a retention policy and a store of its own. The same
 * key in two namespaces is two values. The API routes a request to one namespace;
 * the namespace applies its policy (the TTL clamp) and talks to its store through
 * the storage interface only (instrumentation, when wanted, wraps the store at
 * assembly: src/service.ts).
 */
import { MAX_TTL_SECONDS } from '../config/schema.js';
import type { NamespaceConfig } from '../config/types.js';
import type { Condition, KeyValueStore, NamespaceSpec, SetOutcome, StoredValue, Touched } from '../storage/engine.js';

/** Told of each applied write: its size and, when known, whether it repeated the stored value. */
export type WriteObserver = (namespace: string, key: string, bytes: number, unchanged: boolean | undefined) => void;

export interface NamespaceOptions {
  readonly store: KeyValueStore;
  /** The store reports whether each applied plain write repeated the stored bytes (the embedded engine does, Cassandra's blind writes cannot). */
  readonly storeKnowsPrevious: boolean;
  /**
   * A read made only to learn whether a write repeats the stored value, for a store that
   * cannot tell: a fraction `compareSampleRate` of plain writes is preceded by one.
   */
  readonly sampleRead?: (key: string) => Promise<StoredValue | undefined>;
  readonly compareSampleRate: number;
  readonly onWritten?: WriteObserver;
}

/** What the storage engine needs to know of a namespace to give it a store. */
export function namespaceSpec(c: NamespaceConfig): NamespaceSpec {
  return { name: c.name, table: c.table, conditionalWrites: c.conditionalWrites, serialConsistency: c.serialConsistency };
}

export class Namespace {
  readonly name: string;
  readonly baseUri: string;
  /** Seconds; 0: values never expire. */
  readonly defaultTtl: number;
  /** Who may use it (enforced by the API through access/, which sees the client). */
  readonly access: NamespaceConfig['access'];
  readonly rateLimit: NamespaceConfig['rateLimit'];
  /**
   * Whether writes with a condition (If-Match, If-None-Match) are served: always on the
   * embedded engine, on Cassandra only with `conditional_writes`, where every write and
   * delete is then a lightweight transaction (docs/cassandra.md).
   */
  readonly acceptsConditions: boolean;
  private readonly store: KeyValueStore;

  constructor(
    config: NamespaceConfig,
    private readonly options: NamespaceOptions,
  ) {
    this.name = config.name;
    this.baseUri = config.baseUri;
    this.defaultTtl = config.defaultTtl;
    this.access = config.access;
    this.rateLimit = config.rateLimit;
    this.store = options.store;
    this.acceptsConditions = options.store.acceptsConditions;
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

  set(key: string, value: Buffer, requestedTtl: number | undefined, condition: Condition | undefined): Promise<SetOutcome> {
    const { sampleRead, compareSampleRate } = this.options;
    // To count writes that repeat the stored value, a store that cannot tell cheaply
    // (Cassandra's blind writes, a sealed store) has a sample of keys read first.
    if (
      sampleRead !== undefined &&
      !this.options.storeKnowsPrevious &&
      condition?.kind !== 'absent' &&
      condition?.kind !== 'version' &&
      compareSampleRate > 0 &&
      Math.random() < compareSampleRate
    ) {
      // Only a statistic: if the read fails, the write goes ahead uncompared.
      return sampleRead(key).then(
        (found) => this.write(key, value, requestedTtl, condition, found?.value ?? null),
        () => this.write(key, value, requestedTtl, condition, undefined),
      );
    }
    return this.write(key, value, requestedTtl, condition, undefined);
  }

  /**
   * The store's write, and the observer told of it: whether it repeated the stored value is
   * the store's word if it has one, else the sampled read's (`sampled`: the stored bytes,
   * null if none, undefined if not read). One reaction on the store's promise, not an async
   * function (issue 24); a store that throws at once still gives a rejection.
   */
  private write(key: string, value: Buffer, requestedTtl: number | undefined, condition: Condition | undefined, sampled: Buffer | null | undefined): Promise<SetOutcome> {
    const { onWritten } = this.options;
    let written: Promise<SetOutcome>;
    try {
      written = this.store.set(key, value, this.ttlFor(requestedTtl), condition);
    } catch (err) {
      return Promise.reject(err);
    }
    if (onWritten === undefined) return written;
    return written.then((outcome) => {
      if (outcome.applied) {
        const unchanged = outcome.unchanged !== undefined ? outcome.unchanged : sampled === undefined ? undefined : sampled !== null && sampled.equals(value);
        onWritten(this.name, key, value.length, unchanged);
      }
      return outcome;
    });
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
