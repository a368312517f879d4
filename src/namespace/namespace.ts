/**
 * A namespace: a base URI, a retention policy and a store of its own. The same
 * key in two namespaces is two values. The server routes a request to one
 * namespace; the namespace applies its policy and talks to its storage.
 */
import type { NamespaceConfig } from '../config/load.js';
import { MAX_TTL_SECONDS } from '../config/schema.js';
import type { Condition, KeyValueStore, SetOutcome, StorageEngine, StoredValue } from '../storage/engine.js';

export class Namespace {
  readonly name: string;
  readonly baseUri: string;
  /** Seconds; 0: values never expire. */
  readonly defaultTtl: number;

  constructor(
    config: NamespaceConfig,
    private readonly store: KeyValueStore,
  ) {
    this.name = config.name;
    this.baseUri = config.baseUri;
    this.defaultTtl = config.defaultTtl;
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
    return this.store.set(key, value, this.ttlFor(requestedTtl), condition);
  }

  delete(key: string): Promise<void> {
    return this.store.delete(key);
  }
}

export function openNamespaces(configs: readonly NamespaceConfig[], engine: StorageEngine): Namespace[] {
  return configs.map((c) => new Namespace(c, engine.store({ name: c.name, table: c.table })));
}
