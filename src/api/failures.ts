/**
 * Storage failures as HTTP answers: the one place where a StorageError's kind
 * (storage/errors.ts) becomes a status, and where failures are logged.
 *
 * | kind                  | answer |
 * |-----------------------|--------|
 * | unavailable, timeout  | 503 `storage-unavailable`, Retry-After: 1 |
 * | outcome-unknown       | 503 `outcome-unknown`, no Retry-After (read the key before retrying) |
 * | full                  | 507 `insufficient-storage` |
 * | permanent: a missing keyspace or table | 503 `schema-missing` naming it, Retry-After: 10 (the engine checks the schema again every 10 s); logged as below |
 * | permanent, corrupt    | 500: retrying cannot help; logged once per namespace and cause, then every 10 minutes with the count |
 * | anything else (a bug) | 500 |
 */
import type { OutgoingHttpHeaders } from 'node:http';
import { LogEvery } from '../log/log-every.js';
import type { Logger } from '../log/logger.js';
import { isStorageError, type PermanentCause, type StorageError, type StorageFailure } from '../storage/errors.js';
import { problem, type Answer } from './answer.js';
import { PROBLEMS, type ProblemType } from './problem.js';
import { RETRY_AFTER_SECONDS } from './protocol.js';

/** A permanent storage failure is logged again, with the count refused since, after this long. */
const PERMANENT_RELOG_MS = 10 * 60_000;

const RETRY: OutgoingHttpHeaders = Object.freeze({ 'Retry-After': RETRY_AFTER_SECONDS });

const ANSWERS: Readonly<Record<StorageFailure, { readonly type: ProblemType; readonly headers?: OutgoingHttpHeaders }>> = {
  unavailable: { type: PROBLEMS.unavailable, headers: RETRY },
  timeout: { type: PROBLEMS.unavailable, headers: RETRY },
  // No Retry-After: a blind retry is what the client must not do; it should read first.
  'outcome-unknown': { type: PROBLEMS.outcomeUnknown },
  full: { type: PROBLEMS.insufficientStorage },
  permanent: { type: PROBLEMS.internal },
  corrupt: { type: PROBLEMS.internal },
};

/** What a request to a namespace whose schema is missing is told (no keyspace or table name: the log has them). */
const SCHEMA_MISSING: Readonly<Partial<Record<PermanentCause, string>>> = {
  'missing-table': PROBLEMS.schemaMissing.detail,
  'missing-keyspace': "The Cassandra keyspace of this service does not exist; an operator must create it and this namespace's table (firkin schema --config FILE --apply)",
};
const SCHEMA_RETRY: OutgoingHttpHeaders = Object.freeze({ 'Retry-After': '10' });

/** The answer to a request that failed with `err`; `details` replaces the problem's detail per kind (the truncation's own words). */
export function failureAnswer(err: unknown, requestId: string, details: Partial<Record<StorageFailure, string>> = {}): Answer {
  if (!isStorageError(err)) return problem(requestId, PROBLEMS.internal);
  const schema = err.kind === 'permanent' && err.category !== undefined ? SCHEMA_MISSING[err.category] : undefined;
  if (schema !== undefined) return problem(requestId, PROBLEMS.schemaMissing, schema, SCHEMA_RETRY);
  const { type, headers } = ANSWERS[err.kind];
  return problem(requestId, type, details[err.kind], headers);
}

/** What a failed request's log line says of it. */
export interface FailedRequest {
  readonly requestId: string;
  readonly method: string;
  readonly namespace: string | undefined;
  /** The key as a keyed hash, never the key. */
  readonly keyHash: string | undefined;
}

/** Logs failures at a bounded rate where one cause refuses every request. One per API instance. */
export class FailureLog {
  /** Writes refused as the store is full: at most once a second, with the count since. */
  private readonly full = new LogEvery(1000);
  /** Permanent and corrupt failures: one error line per namespace and cause, then a reminder with the count every 10 minutes. */
  private readonly permanent = new LogEvery(PERMANENT_RELOG_MS);

  constructor(
    private readonly logger: Logger,
    private readonly engine: string,
  ) {}

  failed(err: unknown, request: FailedRequest): void {
    const { logger, engine } = this;
    const { requestId: request_id, namespace } = request;
    if (!isStorageError(err)) {
      logger.error({ request_id, method: request.method, namespace, engine, key_hash: request.keyHash, err }, 'request failed');
      return;
    }
    switch (err.kind) {
      case 'full': {
        // Expected under load at the bound: a warning without a stack, at most once a second.
        const refused = this.full.due();
        if (refused !== undefined) logger.warn({ request_id, namespace, engine, refused, detail: err.message }, 'storage full: writes refused');
        return;
      }
      case 'permanent':
      case 'corrupt': {
        const cause = causeOf(err);
        const refused = this.permanent.due(`${namespace ?? ''}\0${cause}`);
        if (refused !== undefined) {
          const what = err.kind === 'corrupt' ? 'stored data is damaged' : 'storage refuses requests until an operator acts';
          logger.error({ request_id, namespace, engine, cause, refused, err: err.cause ?? err }, `${what}: ${err.message}`);
        }
        return;
      }
      default:
        logger.error(
          { request_id, method: request.method, namespace, engine, key_hash: request.keyHash, err: err.cause ?? err },
          err.kind === 'outcome-unknown' ? 'conditional write outcome unknown' : 'storage unavailable',
        );
    }
  }
}

/** The word a permanent or corrupt failure is logged and counted under. */
function causeOf(err: StorageError): string {
  return err.kind === 'corrupt' ? 'corrupt' : (err.category ?? 'permanent');
}
