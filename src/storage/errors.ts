/**
 * Storage failures, one taxonomy for every engine: a StorageError says what kind of
 * failure it is, and api/failures.ts alone turns that kind into an HTTP answer.
 *
 * | kind              | meaning                                                        | answer |
 * |-------------------|----------------------------------------------------------------|--------|
 * | `unavailable`     | the engine could not be reached or refused for now             | 503, Retry-After |
 * | `timeout`         | the engine did not answer in time (nothing was changed, or the request was idempotent) | 503, Retry-After |
 * | `outcome-unknown` | a conditional write timed out after it was sent: it may apply   | 503 outcome-unknown, no Retry-After |
 * | `full`            | the store is at its size bound (`embedded.max_size`)            | 507 |
 * | `permanent`       | refused until an operator acts (a missing table, a permission)  | 500 (a missing keyspace or table: 503 schema-missing), one log line per cause |
 * | `corrupt`         | the store's data is damaged and cannot be served                | 500, one log line per cause |
 *
 * `cause` carries the engine's own error, for the log only: it may name hosts, tables or files.
 */

export type StorageFailure = 'unavailable' | 'timeout' | 'outcome-unknown' | 'full' | 'permanent' | 'corrupt';

/** Why an engine refuses for a reason that retrying cannot fix; names no host, table, file or driver text. */
export type PermanentCause =
  | 'missing-keyspace'
  | 'missing-table'
  /** A namespace's table exists with other columns than Kask's (key text PRIMARY KEY, value blob). */
  | 'table-mismatch'
  | 'invalid-query'
  | 'unauthorized'
  | 'bad-credentials'
  | 'configuration'
  | 'protocol'
  /** The embedded store's files cannot be read or written by this user, or sit on a read-only filesystem. */
  | 'permission';

export class StorageError extends Error {
  /** For `permanent` failures: why, in a word an operator can look up (docs/operations.md). */
  readonly category: PermanentCause | undefined;

  constructor(
    readonly kind: StorageFailure,
    message: string,
    options: { readonly cause?: unknown; readonly category?: PermanentCause } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'StorageError';
    this.category = options.category;
  }

  /** A retry may succeed (unavailable, timeout): the client is told to retry. */
  get transient(): boolean {
    return this.kind === 'unavailable' || this.kind === 'timeout';
  }

  /** Only an operator can fix it (permanent, corrupt): retrying is pointless. */
  get needsOperator(): boolean {
    return this.kind === 'permanent' || this.kind === 'corrupt';
  }
}

/** `err` as a StorageError of `kind`, or false. */
export function isStorageError(err: unknown, kind?: StorageFailure): err is StorageError {
  return err instanceof StorageError && (kind === undefined || err.kind === kind);
}
