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
import { LogEvery } from '../log/log-every.js';
import type { Logger } from '../log/logger.js';
import type { Metrics, TruncationResult } from '../metrics/metrics.js';
import type { Namespace } from '../namespace/namespace.js';
import { StorageOutcomeUnknownError, StorageUnavailableError } from '../storage/engine.js';
import type { Authentication } from './authentication.js';
import type { Exchange } from './exchange.js';
import { PROBLEMS } from './problem.js';
import { RETRY_AFTER_SECONDS } from './protocol.js';
import { REFUSAL_LINES_PER_SECOND } from './refusal-log.js';

/** The only method the truncation takes. */
export const TRUNCATE_METHOD = 'POST';

export const truncatePath = (namespace: string): string => `/admin/namespaces/${namespace}/truncate`;

export interface TruncateOptions {
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly engine: string;
  readonly auth?: Authentication;
}

export function truncateEndpoint(namespace: Namespace, { logger, metrics, engine, auth }: TruncateOptions): (x: Exchange) => Promise<void> {
  const refusals = new LogEvery(1000, REFUSAL_LINES_PER_SECOND);
  return async (x) => {
    const admin = auth?.adminClient(x);
    const fields = { request_id: x.requestId, namespace: namespace.name, engine, admin, address: x.req.socket.remoteAddress };
    if (admin === undefined) {
      metrics.truncation(namespace.name, 'refused');
      // Anyone who reaches the listener can ask: bounded like every refusal line.
      const count = refusals.due();
      if (count !== undefined) {
        logger.warn(
          { ...fields, ...(count > 1 ? { suppressed: count - 1 } : {}) },
          'namespace truncation refused: no admin client is configured (admin.clients or admin.tokens)',
        );
      }
      return x.problem(PROBLEMS.forbidden, 'Truncating a namespace needs an admin client: configure admin.tokens or admin.clients');
    }
    const started = performance.now();
    const took = (): number => Math.round(performance.now() - started);
    try {
      await namespace.truncate();
    } catch (err) {
      const result = resultOf(err);
      metrics.truncation(namespace.name, result);
      logger[result === 'error' ? 'error' : 'warn'](
        { ...fields, result, duration_ms: took(), err: err instanceof Error && err.cause !== undefined ? err.cause : err },
        `namespace truncation failed: ${err instanceof Error ? err.message : String(err)}`,
      );
      if (result === 'unavailable') {
        return x.problem(
          PROBLEMS.unavailable,
          'The namespace was not truncated: the storage engine refused or could not be reached (Cassandra truncates only while every node is up); retry later',
          { 'Retry-After': RETRY_AFTER_SECONDS },
        );
      }
      if (result === 'unknown') {
        return x.problem(
          PROBLEMS.outcomeUnknown,
          'The truncation did not finish in time: some values may be removed and others not. Repeat it: truncating twice is harmless',
        );
      }
      return x.problem(PROBLEMS.internal);
    }
    metrics.truncation(namespace.name, 'truncated');
    logger.info({ ...fields, duration_ms: took() }, 'namespace truncated');
    x.send(204, {});
  };
}

function resultOf(err: unknown): TruncationResult {
  if (err instanceof StorageOutcomeUnknownError) return 'unknown';
  if (err instanceof StorageUnavailableError) return 'unavailable';
  return 'error'; // a permanent failure (a missing table, a permission) or a bug: 500
}
