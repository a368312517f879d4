/**
 * The storage interface: every engine (embedded LMDB, Cassandra) implements it,
 * and test/storage/conformance.ts checks that each one behaves the same.
 *
 * Keys are UTF-8 strings (already percent-decoded and bounded by the server).
 * Values are bytes, never strings. TTLs are whole seconds; 0 means "no expiry".
 */

/** A precondition on a write, evaluated atomically with it. */
export type Condition =
  /** `If-None-Match: *`: write only if no live value exists (atomic add). */
  | { readonly kind: 'absent' }
  /** `If-Match: *`: write only if a live value exists (replace). */
  | { readonly kind: 'present' }
  /** `If-Match: "v1", "v2"`: write only if the live value's version is one of these (compare-and-set). */
  | { readonly kind: 'version'; readonly versions: readonly string[] };

export interface StoredValue {
  readonly value: Buffer;
  /**
   * Opaque version of the value, used as its strong ETag: it tells nothing about the
   * bytes to anyone who cannot read them (storage/version.ts). A touch keeps it. It may
   * be an accessor computed on first use (Cassandra's): pass a StoredValue on, never
   * copy it with a spread.
   */
  readonly version: string;
  /** Remaining lifetime in whole seconds (rounded up), or null when the value never expires. */
  readonly ttl: number | null;
}

export type SetOutcome =
  | {
      readonly applied: true;
      readonly version: string;
      /**
       * Whether the write stored the very bytes the live value already had (the
       * write-pattern insight counts such rewrites): undefined when the engine cannot
       * tell without an extra read.
       */
      readonly unchanged?: boolean;
    }
  | { readonly applied: false };

/** A touched value: the lifetime it now has, its bytes and version unchanged. */
export interface Touched {
  /** The version of the value whose lifetime was extended (its ETag). */
  readonly version: string;
  /** The TTL applied, in whole seconds (an engine may cap what was asked), or null: no expiry. */
  readonly ttl: number | null;
}

/** One namespace's keys: the same key in two stores is two values. */
export interface KeyValueStore {
  /**
   * Whether `set` takes a condition. Always on the embedded engine; on Cassandra only in a
   * namespace whose every write is a lightweight transaction (`conditional_writes`): a
   * plain (Kask-mode) store refuses a condition outright, as a programming error.
   */
  readonly acceptsConditions: boolean;
  /** The live value, or undefined when absent or expired. */
  get(key: string): Promise<StoredValue | undefined>;
  /** Store `value` for `ttlSeconds` (0: no expiry) if `condition` holds; atomic against concurrent writers. */
  set(key: string, value: Buffer, ttlSeconds: number, condition?: Condition): Promise<SetOutcome>;
  /**
   * Give the live value a new lifetime of `ttlSeconds` (0: no expiry), its bytes and version
   * unchanged; undefined when absent or expired. Atomic against concurrent writers: a
   * touch never brings back a value that a later write replaced or a delete removed.
   * `edit`, when given, looks at the stored bytes first and returns those to write back
   * (a sealed record re-sealed with its new expiry), or undefined to leave the value alone
   * and answer it as absent (a sealed record that does not open). The version is kept.
   */
  touch(key: string, ttlSeconds: number, edit?: (value: Buffer) => Buffer | undefined): Promise<Touched | undefined>;
  /** Remove the key; succeeds whether or not it existed. */
  delete(key: string): Promise<void>;
  /**
   * Remove every value of this namespace, and nothing of any other. All or nothing
   * where the engine can promise it (the embedded engine: one transaction). Cassandra
   * refuses it (`unavailable`) unless every node is up; one that timed out may have
   * applied on some nodes only (`outcome-unknown`): repeat it.
   */
  truncate(): Promise<void>;
}

/**
 * What an engine's store offers beyond a namespace's needs: the operations a sealed
 * namespace (src/seal/) builds on, where one session may have copies under several
 * storage keys (one per keyring key) while keys rotate.
 */
export interface EngineStore extends KeyValueStore {
  /**
   * Remove the values of several keys (a sealed namespace's copies of one session, under
   * each keyring key). `keys[0]` is where a live value would be written now (the active
   * key's copy). Atomic against a concurrent `relocate`: none of them can come back
   * through one that was under way.
   */
  deleteAll(keys: readonly string[]): Promise<void>;
  /**
   * Give the live value of `from` a new home under `to` (a sealed namespace's key
   * rotation: a record found under an older key moves to the active one, re-sealed):
   * `rewrite` turns its bytes into those stored under `to`, which then lives
   * `ttlSeconds`, and `from` is removed. If `to` holds a live value already (a newer
   * write), that one is touched instead, through `edit` as `touch` does (and `from`
   * removed). Atomic against concurrent writes and deletes: a write to `to` is never
   * overwritten, and a `deleteAll` of both that lands meanwhile is never undone.
   * Undefined when neither holds a live value.
   */
  relocate(
    from: string,
    to: string,
    rewrite: (value: Buffer) => Buffer,
    ttlSeconds: number,
    edit?: (value: Buffer) => Buffer | undefined,
  ): Promise<Touched | undefined>;
}

export interface NamespaceSpec {
  readonly name: string;
  /** Cassandra table for this namespace (ignored by the embedded engine). */
  readonly table?: string;
  /**
   * Cassandra: every write and delete of this namespace runs as a lightweight transaction
   * (Paxos), so plain and conditional writes order correctly whatever the clocks do.
   * Off: plain writes and deletes are ordinary mutations (Kask's statements), and the
   * store takes no condition at all (a lightweight transaction mixed with them could
   * make an acknowledged write invisible under clock skew).
   * The embedded engine ignores it: its writes are serialised.
   */
  readonly conditionalWrites?: boolean;
  /** Cassandra: Paxos across the local data centre only (default) or across all of them. */
  readonly serialConsistency?: SerialConsistency;
}

export type SerialConsistency = 'local_serial' | 'serial';

export interface StorageEngine {
  readonly kind: 'embedded' | 'cassandra';
  /** True if every applied plain write reports `unchanged` at no extra cost. */
  readonly knowsPreviousVersion: boolean;
  /** The store for one namespace; call once per namespace at start-up. */
  store(namespace: NamespaceSpec): EngineStore;
  /** Resolves when the engine answers a real request within `timeoutMs`; rejects with a StorageError otherwise. */
  probe(timeoutMs?: number): Promise<void>;
  /** The embedded engine's size and contents, read at each scrape; undefined on Cassandra. */
  readonly space?: SpaceReport;
  /** Flush and release everything; the engine is unusable afterwards. */
  close(): Promise<void>;
}

/** What the embedded engine reports about its store (metrics read it at each scrape). */
export interface SpaceReport {
  /** Size of the data file. */
  fileBytes(): number;
  /** Bytes of the pages in use (embedded/space.ts). */
  usedBytes(): number;
  /** The size bound, `embedded.max_size`. */
  readonly maxSize: number;
  /** Values stored per namespace, expired ones not yet swept included. */
  entries(): ReadonlyMap<string, number>;
}
