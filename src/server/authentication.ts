/**
 * Authentication across the service, beside each namespace's own AccessPolicy:
 * failed authentications (every 401 and 403) are throttled per source address
 * and client certificate (AuthThrottle), logged (`authentication failed`, with
 * the token's name, never its value) and counted.
 *
 * One per process, shared by its listeners (the main one and the admin one).
 */
import { createHash } from 'node:crypto';
import type { FirkinConfig } from '../config/load.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import { BEARER, BEARER_CHALLENGE } from './access.js';
import { AuthThrottle, authSources } from './auth-throttle.js';
import type { Exchange } from './exchange.js';
import { PROBLEMS } from './problem.js';
import { RateLimiter } from './rate-limit.js';
import { clientIdentities } from './tls.js';

/** Where a request was refused, for the log: a namespace's name. */
export type Refused = { readonly namespace: string };

/** A refusal to answer: 401 (no or unknown credentials) or 403 (known, not allowed). */
export interface Refusal {
  readonly status: 401 | 403;
  readonly detail: string;
}

export class Authentication {
  /** Every configured token: SHA-256 (hex) to name, for the log. */
  private readonly tokenNames: ReadonlyMap<string, string>;
  private readonly throttle: AuthThrottle;
  /** At most one `authentication throttled` line per second per source address. */
  private readonly throttleLog = new RateLimiter(1, 1);

  constructor(
    config: FirkinConfig,
    private readonly logger: Logger,
    private readonly metrics: Metrics,
    now?: () => number,
  ) {
    const tokens = config.namespaces.flatMap((ns) => ns.access?.tokens ?? []);
    this.tokenNames = new Map(tokens.map((t): [string, string] => [t.sha256, t.name]).reverse()); // the first name listed wins
    this.throttle = new AuthThrottle(config.failedAuthLimit, now);
  }

  /**
   * Before credentials are looked at: if the request's address or certificate has
   * failed too often, answer 429 with Retry-After and return true. Valid credentials
   * get the same answer then, so the answer tells nothing about a guess.
   */
  throttled(x: Exchange): boolean {
    const sources = this.sourcesOf(x);
    const wait = this.throttle.retryAfter(sources);
    if (wait === undefined) return false;
    this.metrics.authRefused(429);
    if (this.throttleLog.take(sources[0]!).allowed) {
      this.logger.info(
        { request_id: x.requestId, address: x.req.socket.remoteAddress, identity: clientIdentities(x.req.socket)[0], retry_after_seconds: wait },
        'authentication throttled',
      );
    }
    x.problem(PROBLEMS.tooManyAuthFailures, undefined, { 'Retry-After': String(wait) });
    return true;
  }

  /** Answer a refused request (401, with a Bearer challenge if `challenge`, or 403); count, throttle and log it. */
  refuse(x: Exchange, where: Refused, refusal: Refusal, challenge: boolean): void {
    this.failed(x, where, refusal.status);
    this.metrics.authRefused(refusal.status);
    if (refusal.status === 403) return x.problem(PROBLEMS.forbidden, refusal.detail);
    return x.problem(PROBLEMS.notAuthorized, refusal.detail, challenge ? { 'WWW-Authenticate': BEARER_CHALLENGE } : undefined);
  }

  /** Take a token from each source's bucket and log the failure (never the token itself, nor a key). */
  private failed(x: Exchange, where: Refused, status: number): void {
    this.throttle.failed(this.sourcesOf(x));
    const authorization = x.req.headers.authorization;
    this.logger.info(
      {
        request_id: x.requestId,
        address: x.req.socket.remoteAddress,
        ...where,
        status,
        identity: clientIdentities(x.req.socket)[0],
        // The name of a configured token refused here; a token configured nowhere is 'unknown'.
        token: authorization === undefined ? undefined : (this.tokenName(x) ?? 'unknown'),
      },
      'authentication failed',
    );
  }

  /** The name of the configured token the request carries, if it carries one. */
  private tokenName(x: Exchange): string | undefined {
    const authorization = x.req.headers.authorization;
    const token = authorization === undefined ? undefined : BEARER.exec(authorization)?.[1];
    if (token === undefined) return undefined;
    return this.tokenNames.get(createHash('sha256').update(token).digest('hex'));
  }

  private sourcesOf(x: Exchange): string[] {
    return authSources(x.req.socket.remoteAddress, clientIdentities(x.req.socket));
  }
}
