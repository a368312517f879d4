/**
 * Each request at the edge: its metrics (namespace requests only: the service
 * endpoints are not counted, as in Kask) and, at debug, its log line. The transport
 * reports every exchange here (transport/exchange.ts: ExchangeHooks).
 */
import type { KeyHasher } from '../log/key-hash.js';
import type { Logger } from '../log/logger.js';
import type { ExchangeHooks } from '../transport/exchange.js';
import type { Metrics } from './metrics.js';

export function requestObserver(metrics: Metrics, logger: Logger, hasher: KeyHasher, engine: string): ExchangeHooks {
  return {
    served: (ctx, served, status, seconds) => {
      if (served.endpoint) return;
      if (status === undefined) {
        if (served.operation !== undefined) metrics.aborted(served.namespace!, served.operation);
        return;
      }
      metrics.request(ctx.method, status, served.namespace ?? '', served.operation, seconds);
      if (!logger.isLevelEnabled('debug')) return;
      logger.debug(
        {
          request_id: ctx.requestId,
          method: ctx.method,
          status,
          address: ctx.remoteAddress,
          identity: ctx.peer.identities[0],
          token: served.token,
          namespace: served.namespace,
          engine,
          key_hash: served.key === undefined ? undefined : hasher.hash(served.namespace!, served.key),
          duration_ms: Math.round(seconds * 1_000_000) / 1000,
        },
        'request',
      );
    },
    refusedUnparsed: (status) => metrics.request(undefined, status, '', undefined, undefined),
  };
}
