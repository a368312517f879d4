/**
 * The request handler: routes a request to a namespace and key, applies the
 * HTTP contract (methods, conditions, TTL, body limits) and answers.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Logger } from '../log/logger.js';
import { LogEvery } from '../log/log-every.js';
import { keyHash } from '../log/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import type { Namespace } from '../namespace/namespace.js';
import { StorageFullError, StorageOutcomeUnknownError, StoragePermanentError, StorageUnavailableError } from '../storage/engine.js';
import { readBody } from './body.js';
import type { serviceEndpoints } from './endpoints.js';
import { ByteBudget } from './byte-budget.js';
import { Exchange, type ExchangeLimits } from './exchange.js';
import { etagOf, readPrecondition, requestedMaxAge, writeCondition } from './preconditions.js';
import { PROBLEMS, type ProblemType } from './problem.js';
import { ALLOWED_METHODS, RETRY_AFTER_SECONDS, TTL_HEADER } from './protocol.js';
import { TargetParser } from './target.js';
import { AccessPolicy } from './access.js';
import type { Authentication } from './authentication.js';
import { clientIdentities } from './tls.js';
import { addressBlock, RateLimiter } from './rate-limit.js';
import type { Operation } from '../metrics/metrics.js';

const EMPTY_BODY = 'The request body (the value) is empty';
/** A permanent storage failure is logged again, with the count refused since, after this long. */
const PERMANENT_RELOG_MS = 10 * 60_000;

const OPERATION_OF: Readonly<Record<string, Operation>> = {
  GET: 'read',
  HEAD: 'read',
  PUT: 'write',
  POST: 'write',
  DELETE: 'delete',
  PATCH: 'touch',
};

export interface HandlerOptions {
  readonly namespaces: readonly Namespace[];
  readonly maxKeyBytes: number;
  readonly maxValueBytes: number;
  /** Requests served at once, each until its response has left; beyond it, 503 at once (service endpoints exempt). */
  readonly maxInFlight: number;
  /** Bytes of response bodies waiting to leave, shared by every listener of the process. */
  readonly budget: ByteBudget;
  /** A response not flushed within this closes its connection. */
  readonly writeTimeoutMs: number;
  /** Mutual TLS (tls.ca) is on: namespaces and admin endpoints need a client certificate. */
  readonly mutualTls: boolean;
  readonly logger: Logger;
  readonly engine: string;
  readonly metrics: Metrics;
  readonly endpoints: ReturnType<typeof serviceEndpoints>;
  /** The process's failed-authentication throttle and log (shared by its listeners). */
  readonly auth: Authentication;
  /** True once the service is draining before exit. */
  readonly closing: () => boolean;
}

/**
 * An incoming X-Request-ID is echoed only if it is 1-128 characters that are safe in a
 * URI (it becomes part of a problem's `instance`); otherwise a new one is made.
 */
const REQUEST_ID = /^[A-Za-z0-9._~:@!$&'()*+,;=-]{1,128}$/;

/** Serve a request; with `refuse`, answer that problem without routing it. */
type Handler = (req: IncomingMessage, res: ServerResponse, refuse?: ProblemType) => void;

export function createHandler(options: HandlerOptions): Handler {
  const parser = new TargetParser(options.namespaces, options.maxKeyBytes);
  const { logger, maxValueBytes, metrics, endpoints, engine, maxInFlight, mutualTls, auth } = options;
  /** Namespace requests being served by this listener (for max_in_flight), each until its response has left. */
  let inFlight = 0;
  const limits: ExchangeLimits = { budget: options.budget, writeTimeoutMs: options.writeTimeoutMs, closing: options.closing };
  /** Writes refused as the store is full: logged at most once a second, with the count since. */
  const fullLog = new LogEvery(1000);
  /** Permanent storage failures: one error line per namespace and cause, then a reminder with the count every 10 minutes. */
  const permanentLog = new LogEvery(PERMANENT_RELOG_MS);
  const guards = new Map(
    options.namespaces.map((ns) => [
      ns.name,
      {
        policy: new AccessPolicy(ns.access, mutualTls),
        limiter: ns.rateLimit === undefined ? undefined : new RateLimiter(ns.rateLimit.perSecond, ns.rateLimit.burst),
      },
    ]),
  );

  return (req, res, refuse) => {
    const incoming = req.headers['x-request-id'];
    const requestId = typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    const started = performance.now();
    const exchange: Exchange = new Exchange(req, res, requestId, limits, () => {
      if (exchange.holdsSlot) inFlight--;
    });
    metrics.requestStarted();
    const done = (): void => {
      metrics.requestEnded();
      if (exchange.endpoint) return;
      if (!res.headersSent) {
        if (exchange.operation !== undefined) metrics.aborted(exchange.namespace!, exchange.operation);
        return;
      }
      const ms = performance.now() - started;
      metrics.request(req.method, res.statusCode, exchange.namespace ?? '', exchange.operation, ms / 1000);
      if (logger.isLevelEnabled('debug')) {
        logger.debug(
          {
            request_id: requestId,
            method: req.method,
            status: res.statusCode,
            address: req.socket.remoteAddress,
            identity: clientIdentities(req.socket)[0],
            token: exchange.token,
            namespace: exchange.namespace,
            engine,
            key_hash: exchange.key === undefined ? undefined : keyHash(exchange.namespace!, exchange.key),
            duration_ms: Math.round(ms * 1000) / 1000,
          },
          'request',
        );
      }
    };
    (refuse ? Promise.resolve(exchange.problem(refuse)) : serve(exchange)).then(done, (err: unknown) => {
      if (err instanceof StorageFullError) {
        // Expected under load at the bound: a warning without a stack, at most once a second.
        const refused = fullLog.due();
        if (refused !== undefined) {
          logger.warn({ request_id: requestId, namespace: exchange.namespace, engine, refused, detail: err.message }, 'storage full: writes refused');
        }
        if (res.headersSent) res.destroy();
        else exchange.problem(PROBLEMS.insufficientStorage);
        return done();
      }
      if (err instanceof StoragePermanentError) {
        // Not worth retrying, so 500; logged once per namespace and cause, not once per request.
        const refused = permanentLog.due(`${exchange.namespace ?? ''}\0${err.category}`);
        if (refused !== undefined) {
          logger.error(
            { request_id: requestId, namespace: exchange.namespace, engine, cause: err.category, refused, err: err.cause ?? err },
            `storage refuses requests until an operator acts: ${err.message}`,
          );
        }
        if (res.headersSent) res.destroy();
        else exchange.problem(PROBLEMS.internal);
        return done();
      }
      const unavailable = err instanceof StorageUnavailableError || err instanceof StorageOutcomeUnknownError;
      logger.error(
        {
          request_id: requestId,
          method: req.method,
          namespace: exchange.namespace,
          engine,
          key_hash: exchange.key === undefined ? undefined : keyHash(exchange.namespace!, exchange.key),
          err: unavailable ? (err.cause ?? err) : err,
        },
        err instanceof StorageOutcomeUnknownError ? 'conditional write outcome unknown' : unavailable ? 'storage unavailable' : 'request failed',
      );
      if (res.headersSent) {
        res.destroy();
      } else if (err instanceof StorageOutcomeUnknownError) {
        // No Retry-After: a blind retry is what the client must not do; it should read first.
        exchange.problem(PROBLEMS.outcomeUnknown);
      } else if (unavailable) {
        exchange.problem(PROBLEMS.unavailable, undefined, { 'Retry-After': RETRY_AFTER_SECONDS });
      } else {
        exchange.problem(PROBLEMS.internal);
      }
      done();
    });
  };

  async function serve(x: Exchange): Promise<void> {
    const url = x.req.url ?? '';
    const query = url.indexOf('?');
    const path = query === -1 ? url : url.slice(0, query);
    const endpoint = endpoints.get(path);
    if (endpoint !== undefined) {
      x.endpoint = true;
      return endpoint(x); // guarded by `auth` itself (endpoints.ts)
    }
    // Only namespace requests count against max_in_flight: health checks and scrapes neither
    // take a slot nor can be refused by it.
    if (inFlight >= maxInFlight) {
      return x.problem(PROBLEMS.overloaded, undefined, { 'Retry-After': RETRY_AFTER_SECONDS });
    }
    inFlight++;
    x.holdsSlot = true;
    const target = parser.parse(url);
    if (!target.ok) return x.problem(target.problem, target.detail);
    const { namespace, key } = target;
    x.namespace = namespace.name;
    x.key = key;
    const operation = OPERATION_OF[x.req.method ?? ''];
    if (operation === undefined) return x.problem(PROBLEMS.methodNotAllowed, undefined, { Allow: ALLOWED_METHODS });
    x.operation = operation;

    const guard = guards.get(namespace.name)!;
    // Too many failed authentications from this address or certificate: 429, credentials unread.
    const where = { namespace: namespace.name, operation };
    if (!guard.policy.open && auth.throttled(x, where)) return;
    // A touch changes state: it needs the write right (there is no right of its own to grant).
    const decision = guard.policy.decide(x.req, operation === 'touch' ? 'write' : operation);
    if (!decision.allowed) return auth.refuse(x, where, decision, guard.policy.takesTokens);
    x.token = decision.token;
    if (guard.limiter !== undefined) {
      // Keys by kind (cert:, token:, ip:) so one kind cannot drain another's bucket.
      const rate = guard.limiter.take(decision.client ?? `ip:${addressBlock(x.req.socket.remoteAddress)}`);
      if (!rate.allowed) return x.problem(PROBLEMS.rateLimited, undefined, { 'Retry-After': String(rate.retryAfterSeconds) });
    }

    switch (operation) {
      case 'read':
        return read(x, namespace, key);
      case 'write':
        return write(x, namespace, key);
      case 'delete':
        return remove(x, namespace, key);
      case 'touch':
        return touch(x, namespace, key);
    }
  }

  async function read(x: Exchange, namespace: Namespace, key: string): Promise<void> {
    const found = await namespace.get(key);
    const precondition = readPrecondition(x.req.headers, found?.version);
    if (!precondition.ok) return x.problem(PROBLEMS.badRequest, precondition.detail);
    if (precondition.value === 'failed') return x.problem(PROBLEMS.preconditionFailed);
    if (found === undefined) return x.problem(PROBLEMS.notFound);
    const headers: OutgoingHttpHeaders = { ETag: etagOf(found.version) };
    if (found.ttl !== null) headers[TTL_HEADER] = found.ttl;
    if (precondition.value === 'not-modified') return x.send(304, headers);
    headers['Content-Type'] = 'application/octet-stream';
    headers['Content-Length'] = found.value.length;
    return x.send(200, headers, found.value);
  }

  async function write(x: Exchange, namespace: Namespace, key: string): Promise<void> {
    const condition = writeCondition(x.req.headers);
    if (!condition.ok) return x.problem(PROBLEMS.badRequest, condition.detail);
    // Checked before the body is read: the write cannot be served as asked.
    if (condition.value !== undefined && !namespace.acceptsConditions) return x.problem(PROBLEMS.conditionalWritesDisabled);
    const maxAge = requestedMaxAge(x.req.headers);
    if (!maxAge.ok) return x.problem(PROBLEMS.badRequest, maxAge.detail);
    // For `Expect: 100-continue`, invite the body only now that the request is acceptable.
    const length = x.req.headers['content-length'];
    if (length === '0') return x.problem(PROBLEMS.badRequest, EMPTY_BODY);
    if (x.req.headers.expect !== undefined && Number(length ?? 0) <= maxValueBytes) x.res.writeContinue();
    const body = await readBody(x.req, maxValueBytes);
    if (!body.ok) {
      if (body.reason === 'aborted') return x.abandon();
      return x.problem(PROBLEMS.tooLarge, `The value exceeds the maximum of ${maxValueBytes} bytes`);
    }
    if (body.body.length === 0) return x.problem(PROBLEMS.badRequest, EMPTY_BODY);
    const outcome = await namespace.set(key, body.body, maxAge.value, condition.value);
    if (!outcome.applied) return x.problem(PROBLEMS.preconditionFailed);
    return x.send(201, { ETag: etagOf(outcome.version), 'Content-Length': 0 });
  }

  /** PATCH: a new lifetime for the stored value, without sending it (sliding expiry). */
  async function touch(x: Exchange, namespace: Namespace, key: string): Promise<void> {
    const { headers } = x.req;
    if (headers['if-match'] !== undefined || headers['if-none-match'] !== undefined) {
      return x.problem(PROBLEMS.badRequest, 'PATCH does not take If-Match or If-None-Match');
    }
    const length = headers['content-length'];
    if (headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0')) {
      return x.problem(PROBLEMS.badRequest, 'PATCH takes no body');
    }
    const maxAge = requestedMaxAge(headers);
    if (!maxAge.ok) return x.problem(PROBLEMS.badRequest, maxAge.detail);
    const touched = await namespace.touch(key, maxAge.value);
    if (touched === undefined) return x.problem(PROBLEMS.notFound);
    const answer: OutgoingHttpHeaders = { ETag: etagOf(touched.version) };
    if (touched.ttl !== null) answer[TTL_HEADER] = touched.ttl;
    return x.send(204, answer);
  }

  async function remove(x: Exchange, namespace: Namespace, key: string): Promise<void> {
    if (x.req.headers['if-match'] !== undefined || x.req.headers['if-none-match'] !== undefined) {
      return x.problem(PROBLEMS.badRequest, 'DELETE does not take If-Match or If-None-Match');
    }
    await namespace.delete(key);
    return x.send(204, {});
  }
}
