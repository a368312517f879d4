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
  /** Opaque version of the value, used as its strong ETag. */
  readonly version: string;
  /** Remaining lifetime in whole seconds (rounded up), or null when the value never expires. */
  readonly ttl: number | null;
}

export type SetOutcome =
  | {
      readonly applied: true;
      readonly version: string;
      /**
       * The version of the live value this write replaced: null when there was none,
       * undefined when the engine cannot tell without an extra read.
       */
      readonly previousVersion?: string | null;
    }
  | { readonly applied: false };

/** One namespace's keys: the same key in two stores is two values. */
export interface KeyValueStore {
  /** The live value, or undefined when absent or expired. */
  get(key: string): Promise<StoredValue | undefined>;
  /** Store `value` for `ttlSeconds` (0: no expiry) if `condition` holds; atomic against concurrent writers. */
  set(key: string, value: Buffer, ttlSeconds: number, condition?: Condition): Promise<SetOutcome>;
  /** Remove the key; succeeds whether or not it existed. */
  delete(key: string): Promise<void>;
}

export interface NamespaceSpec {
  readonly name: string;
  /** Cassandra table for this namespace (ignored by the embedded engine). */
  readonly table?: string;
}

export interface StorageEngine {
  readonly kind: 'embedded' | 'cassandra';
  /** True if every applied plain write reports `previousVersion` at no extra cost. */
  readonly knowsPreviousVersion: boolean;
  /** The store for one namespace; call once per namespace at start-up. */
  store(namespace: NamespaceSpec): KeyValueStore;
  /** Resolves when the engine answers a real request within `timeoutMs`; rejects with StorageUnavailableError otherwise. */
  probe(timeoutMs?: number): Promise<void>;
  /** Flush and release everything; the engine is unusable afterwards. */
  close(): Promise<void>;
}

/**
 * The engine could not do what was asked (disk full, database unreachable, timeout).
 * The server answers 503; `cause` carries the engine's own error for the log only.
 */
export class StorageUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StorageUnavailableError';
  }
}

/**
 * The store is at its configured size bound (`embedded.max_size`): the write was
 * refused before it started, nothing of it is stored. Reads, deletes and expiry go
 * on, and writes succeed again once entries expire or are deleted. The server
 * answers 507. Only the embedded engine throws it; Cassandra never does.
 */
export class StorageFullError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StorageFullError';
  }
}
