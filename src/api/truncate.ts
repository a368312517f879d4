/**
 * `POST /admin/namespaces/{name}/truncate`: remove every value of one namespace, the
 * other namespaces untouched. After an incident, it signs everyone out of that
 * namespace at once. Served where the admin endpoints are (admin.enabled, admin.listen).
 *
 * Destructive, so it needs an admin client even where authentication is otherwise not
 * configured: without admin.clients or admin.tokens it answers 403 and removes nothing.
 * Otherwise anything that reaches the listener could sign every user out, and the log
 * could not say who did.
 *
 * Answers 204 once truncated; 503 `storage-unavailable` when the engine refused or could
 * not be reached (Cassandra: a node is down, and it refuses before removing anything);
 * 503 `outcome-unknown` when it did not finish in time (some nodes may be truncated:
 * repeat it). Each attempt is logged with the admin client and counted, never a key.
 */
import type { Authentication } from '../access/authentication.js';
import { REFUSAL_LINES_PER_SECOND } from '../access/refusal-log.js';
import type { RequestContext } from '../base/request.js';
import { LogEvery } from '../log/log-every.js';
import type { Logger } from '../log/logger.js';
import type { Namespace } from '../namespace/namespace.js';
import { isStorageError } from '../storage/errors.js';
import { answer, problem, type Answer } from './answer.js';
import { failureAnswer } from './failures.js';
import { PROBLEMS } from './problem.js';

/** The only method the truncation takes. */
export const TRUNCATE_METHOD = 'POST';

export const truncatePath = (namespace: string): string => `/admin/namespaces/${namespace}/truncate`;

/** What an admin truncation came to, for `firkin_namespace_truncations_total`. */
export type TruncationResult = 'truncated' | 'unavailable' | 'unknown' | 'error' | 'refused';

export interface TruncateOptions {
  readonly logger: Logger;
  readonly engine: string;
  readonly auth?: Authentication;
  readonly onTruncation?: (namespace: string, result: TruncationResult) => void;
}

/** The truncation's own words for the failures a client can act on. */
const DETAILS = {
  unavailable:
    'The namespace was not truncated: the storage engine refused or could not be reached (Cassandra truncates only while every node is up); retry later',
  timeout: 'The namespace was not truncated: the storage engine did not answer in time; retry later',
  'outcome-unknown': 'The truncation did not finish in time: some values may be removed and others not. Repeat it: truncating twice is harmless',
} as const;

export function truncateEndpoint(namespace: Namespace, { logger, engine, auth, onTruncation }: TruncateOptions): (x: RequestContext) => Promise<Answer> {
  const refusals = new LogEvery(1000, REFUSAL_LINES_PER_SECOND);
  const counted = (result: TruncationResult): void => onTruncation?.(namespace.name, result);
  return async (x) => {
    const admin = auth?.adminClient(x);
    const fields = { request_id: x.requestId, namespace: namespace.name, engine, admin, address: x.remoteAddress };
    if (admin === undefined) {
      counted('refused');
      // Anyone who reaches the listener can ask: bounded like every refusal line.
      const count = refusals.due();
      if (count !== undefined) {
        logger.warn(
          { ...fields, ...(count > 1 ? { suppressed: count - 1 } : {}) },
          'namespace truncation refused: no admin client is configured (admin.clients or admin.tokens)',
        );
      }
      return problem(x.requestId, PROBLEMS.forbidden, 'Truncating a namespace needs an admin client: configure admin.tokens or admin.clients');
    }
    const started = performance.now();
    const took = (): number => Math.round(performance.now() - started);
    try {
      await namespace.truncate();
    } catch (err) {
      const result = resultOf(err);
      counted(result);
      logger[result === 'error' ? 'error' : 'warn'](
        { ...fields, result, duration_ms: took(), err: err instanceof Error && err.cause !== undefined ? err.cause : err },
        `namespace truncation failed: ${err instanceof Error ? err.message : String(err)}`,
      );
      return failureAnswer(err, x.requestId, DETAILS);
    }
    counted('truncated');
    logger.info({ ...fields, duration_ms: took() }, 'namespace truncated');
    return answer(204, {});
  };
}

function resultOf(err: unknown): TruncationResult {
  if (isStorageError(err, 'outcome-unknown')) return 'unknown';
  if (isStorageError(err) && err.transient) return 'unavailable';
  return 'error'; // a permanent failure (a missing table, a permission), damaged data, or a bug: 500
}
