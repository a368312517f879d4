/**
 * The API: a request context in, an answer out. Service endpoints are looked up by
 * exact path; everything else is routed to a namespace and key (route.ts), checked
 * against the namespace's access rules (access/), and served by the operation its
 * method names: conditions (preconditions.ts), TTL, body limits, then the namespace.
 * Storage failures become answers in failures.ts only. Nothing here touches a socket:
 * the transport writes the answer.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import type { Operation } from '../base/operations.js';
import type { RequestContext } from '../base/request.js';
import type { Authentication } from '../access/authentication.js';
import { AccessPolicy } from '../access/policy.js';
import { addressBlock, RateLimiter } from '../access/rate-limit.js';
import type { KeyHasher } from '../log/key-hash.js';
import type { Logger } from '../log/logger.js';
import type { Namespace } from '../namespace/namespace.js';
import { ABANDONED, answer, problem, refusalAnswer, type Answer, type Served } from './answer.js';
import type { Endpoint } from './endpoints.js';
import { failureAnswer, FailureLog } from './failures.js';
import { etagOf, readPrecondition, requestedMaxAge, writeCondition } from './preconditions.js';
import { PROBLEMS } from './problem.js';
import { ALLOWED_METHODS, RETRY_AFTER_SECONDS, TTL_HEADER } from './protocol.js';
import { Router } from './route.js';

const EMPTY_BODY = 'The request body (the value) is empty';

const OPERATION_OF: Readonly<Record<string, Operation>> = {
  GET: 'read',
  HEAD: 'read',
  PUT: 'write',
  POST: 'write',
  DELETE: 'delete',
  PATCH: 'touch',
};

export interface ApiOptions {
  readonly namespaces: readonly Namespace[];
  /** The service endpoints by exact path (endpoints.ts). */
  readonly endpoints: ReadonlyMap<string, Endpoint>;
  readonly maxKeyBytes: number;
  readonly maxValueBytes: number;
  /** Mutual TLS (tls.ca) is on: namespaces need a client certificate. */
  readonly mutualTls: boolean;
  /** The process's failed-authentication throttle and log (shared by its listeners). */
  readonly auth: Authentication;
  readonly logger: Logger;
  readonly hasher: KeyHasher;
  /** The engine's kind, for log lines. */
  readonly engine: string;
}

export interface Api {
  /** True for the exact path of a service endpoint that does no storage work: neither counted in flight nor refused for max_in_flight. */
  exempt(path: string): boolean;
  handle(ctx: RequestContext): Promise<Served>;
}

export function createApi(options: ApiOptions): Api {
  const router = new Router(options.namespaces, options.maxKeyBytes);
  const { endpoints, maxValueBytes, auth, hasher } = options;
  const failures = new FailureLog(options.logger, options.engine);
  const guards = new Map(
    options.namespaces.map((ns) => {
      const policy = new AccessPolicy(ns.access, options.mutualTls);
      return [
        ns.name,
        {
          // Undefined for an open namespace: nothing to look up.
          policy: policy.open ? undefined : policy,
          limiter: ns.rateLimit === undefined ? undefined : new RateLimiter(ns.rateLimit.perSecond, ns.rateLimit.burst),
        },
      ];
    }),
  );

  const served = (a: Answer, namespace?: string, key?: string, operation?: Operation, token?: string): Served => ({
    answer: a,
    endpoint: false,
    namespace,
    key,
    operation,
    token,
  });

  return {
    exempt: (path) => endpoints.get(path)?.storageWork === false,
    // Not an async function: the data path's answer comes in one reaction on the engine's
    // (issue 24). A throw (a bug) still rejects, as from an async function.
    handle: (ctx) => {
      try {
        const endpoint = endpoints.get(ctx.path);
        // Endpoints are guarded by `auth` themselves (endpoints.ts).
        return Promise.resolve(endpoint !== undefined ? endpoint(ctx) : serve(ctx)); // a promise passes as it is
      } catch (err) {
        return Promise.reject(err);
      }
    },
  };

  /** A namespace request: answered at once if refused, else by its operation (a promise). */
  function serve(ctx: RequestContext): Served | Promise<Served> {
    const target = router.parse(ctx.url);
    if (!target.ok) return served(problem(ctx.requestId, target.problem, target.detail));
    const { namespace, key } = target;
    const operation = OPERATION_OF[ctx.method];
    if (operation === undefined) {
      return served(problem(ctx.requestId, PROBLEMS.methodNotAllowed, undefined, { Allow: ALLOWED_METHODS }), namespace.name, key);
    }
    const guard = guards.get(namespace.name)!;
    let token: string | undefined;
    let bucket: string | undefined;
    if (guard.policy !== undefined) {
      const where = { namespace: namespace.name, operation };
      // Too many failed authentications from this address or certificate: 429, credentials unread.
      const throttled = auth.throttled(ctx, where);
      if (throttled !== undefined) return served(refusalAnswer(ctx.requestId, throttled), namespace.name, key, operation);
      // A touch changes state: it needs the write right (there is no right of its own to grant).
      const decision = guard.policy.decide(ctx, operation === 'touch' ? 'write' : operation);
      if (!decision.allowed) {
        const verdict = auth.refuse(ctx, where, decision, guard.policy.takesTokens);
        return served(refusalAnswer(ctx.requestId, verdict), namespace.name, key, operation, verdict.status === 429 ? undefined : verdict.token);
      }
      token = decision.token;
      bucket = decision.bucket;
    }
    if (guard.limiter !== undefined) {
      // Keyed by what the caller cannot share (its certificate's fingerprint, its token), else
      // its address; by kind (cert:, token:, ip:) so one kind cannot drain another's bucket.
      const rate = guard.limiter.take(bucket ?? `ip:${addressBlock(ctx.remoteAddress)}`);
      if (!rate.allowed) {
        return served(problem(ctx.requestId, PROBLEMS.rateLimited, undefined, { 'Retry-After': String(rate.retryAfterSeconds) }), namespace.name, key, operation, token);
      }
    }
    return OPERATIONS[operation](ctx, namespace, key, maxValueBytes).then(
      (a) => served(a, namespace.name, key, operation, token),
      (err: unknown) => {
        failures.failed(err, { requestId: ctx.requestId, method: ctx.method, namespace: namespace.name, keyHash: hasher.hash(namespace.name, key) });
        return served(failureAnswer(err, ctx.requestId), namespace.name, key, operation, token);
      },
    );
  }
}

type Serve = (ctx: RequestContext, namespace: Namespace, key: string, maxValueBytes: number) => Promise<Answer>;

const OPERATIONS: Readonly<Record<Operation, Serve>> = { read, write, delete: remove, touch };

async function read(ctx: RequestContext, namespace: Namespace, key: string): Promise<Answer> {
  const found = await namespace.get(key);
  const precondition = readPrecondition(ctx.headers, found?.version);
  if (!precondition.ok) return problem(ctx.requestId, PROBLEMS.badRequest, precondition.detail);
  if (precondition.value === 'failed') return problem(ctx.requestId, PROBLEMS.preconditionFailed);
  if (found === undefined) return problem(ctx.requestId, PROBLEMS.notFound);
  const headers: OutgoingHttpHeaders = { ETag: etagOf(found.version) };
  if (found.ttl !== null) headers[TTL_HEADER] = found.ttl;
  if (precondition.value === 'not-modified') return answer(304, headers);
  headers['Content-Type'] = 'application/octet-stream';
  headers['Content-Length'] = found.value.length;
  return answer(200, headers, found.value);
}

async function write(ctx: RequestContext, namespace: Namespace, key: string, maxValueBytes: number): Promise<Answer> {
  const condition = writeCondition(ctx.headers);
  if (!condition.ok) return problem(ctx.requestId, PROBLEMS.badRequest, condition.detail);
  // Checked before the body is read: the write cannot be served as asked.
  if (condition.value !== undefined && !namespace.acceptsConditions) return problem(ctx.requestId, PROBLEMS.conditionalWritesDisabled);
  const maxAge = requestedMaxAge(ctx.headers);
  if (!maxAge.ok) return problem(ctx.requestId, PROBLEMS.badRequest, maxAge.detail);
  // For `Expect: 100-continue`, invite the body only now that the request is acceptable.
  const length = ctx.headers['content-length'];
  if (length === '0') return problem(ctx.requestId, PROBLEMS.badRequest, EMPTY_BODY);
  if (ctx.headers.expect !== undefined && Number(length ?? 0) <= maxValueBytes) ctx.inviteBody();
  const body = await ctx.readBody(maxValueBytes);
  if (!body.ok) {
    switch (body.reason) {
      case 'aborted':
        return ABANDONED;
      case 'too-slow':
        return problem(ctx.requestId, PROBLEMS.requestTimeout, 'The body stopped arriving');
      case 'overloaded':
        return problem(ctx.requestId, PROBLEMS.overloaded, undefined, { 'Retry-After': RETRY_AFTER_SECONDS });
      case 'too-large':
        return problem(ctx.requestId, PROBLEMS.tooLarge, `The value exceeds the maximum of ${maxValueBytes} bytes`);
    }
  }
  if (body.body.length === 0) return problem(ctx.requestId, PROBLEMS.badRequest, EMPTY_BODY);
  const outcome = await namespace.set(key, body.body, maxAge.value, condition.value);
  if (!outcome.applied) return problem(ctx.requestId, PROBLEMS.preconditionFailed);
  return answer(201, { ETag: etagOf(outcome.version), 'Content-Length': 0 });
}

/** PATCH: a new lifetime for the stored value, without sending it (sliding expiry). */
async function touch(ctx: RequestContext, namespace: Namespace, key: string): Promise<Answer> {
  const { headers } = ctx;
  if (headers['if-match'] !== undefined || headers['if-none-match'] !== undefined) {
    return problem(ctx.requestId, PROBLEMS.badRequest, 'PATCH does not take If-Match or If-None-Match');
  }
  const length = headers['content-length'];
  if (headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0')) {
    return problem(ctx.requestId, PROBLEMS.badRequest, 'PATCH takes no body');
  }
  const maxAge = requestedMaxAge(headers);
  if (!maxAge.ok) return problem(ctx.requestId, PROBLEMS.badRequest, maxAge.detail);
  const touched = await namespace.touch(key, maxAge.value);
  if (touched === undefined) return problem(ctx.requestId, PROBLEMS.notFound);
  const out: OutgoingHttpHeaders = { ETag: etagOf(touched.version) };
  if (touched.ttl !== null) out[TTL_HEADER] = touched.ttl;
  return answer(204, out);
}

async function remove(ctx: RequestContext, namespace: Namespace, key: string): Promise<Answer> {
  if (ctx.headers['if-match'] !== undefined || ctx.headers['if-none-match'] !== undefined) {
    return problem(ctx.requestId, PROBLEMS.badRequest, 'DELETE does not take If-Match or If-None-Match');
  }
  await namespace.delete(key);
  return answer(204, {});
}
