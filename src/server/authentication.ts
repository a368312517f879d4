/**
 * Authentication across the service, beside each namespace's own AccessPolicy:
 *
 *   - failed authentications (every 401 and 403) are throttled per source address
 *     and client certificate (AuthThrottle), logged (RefusalLog: `authentication
 *     failed`, with the token's name, never its value) and counted;
 *   - once authentication is configured (tls.ca, namespace tokens or admin
 *     credentials), the service endpoints are guarded: /metrics and /admin/* need an
 *     admin client (admin.clients, admin.tokens), /openapi any valid credentials,
 *     and /healthz shows its details (version, engine, uptime) to admin clients only.
 *     /readyz stays open. Without authentication configured, all stay open (Kask),
 *     except the destructive ones (truncation), which need an admin client always
 *     (adminClient).
 *
 * One per process, shared by its listeners (the main one and the admin one).
 */
import { createHash } from 'node:crypto';
import type { FirkinConfig } from '../config/types.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import { AccessPolicy, BEARER, BEARER_CHALLENGE } from './access.js';
import { AuthThrottle, authSources } from './auth-throttle.js';
import type { Exchange } from './exchange.js';
import { PROBLEMS } from './problem.js';
import { RefusalLog, type Client, type Refused } from './refusal-log.js';
import { clientIdentities, hasVerifiedCertificate } from './tls.js';

/** A refusal to answer: 401 (no or unknown credentials) or 403 (known, not allowed). */
export interface Refusal {
  readonly status: 401 | 403;
  readonly detail: string;
}

/** The credentials each guarded service endpoint needs once authentication is configured. */
function guardOf(path: string): 'admin' | 'authenticated' | undefined {
  if (path === '/metrics' || path.startsWith('/admin/')) return 'admin';
  if (path === '/openapi') return 'authenticated';
  return undefined; // /healthz (details for admin clients only) and /readyz
}

export class Authentication {
  /** Authentication is configured: the service endpoints are guarded. */
  readonly configured: boolean;
  private readonly admin: AccessPolicy;
  /** admin.clients or admin.tokens is set: someone can be an admin client. */
  private readonly admins: boolean;
  /** Every configured token (namespaces' and admin's): SHA-256 (hex) to name, for /openapi and the log. */
  private readonly tokenNames: ReadonlyMap<string, string>;
  private readonly anyTokens: boolean;
  private readonly mutualTls: boolean;
  private readonly throttle: AuthThrottle;
  /** Refused requests and TLS handshakes, logged at a bounded rate (shared by the listeners, as the throttle). */
  readonly refusals: RefusalLog;

  constructor(
    config: FirkinConfig,
    logger: Logger,
    private readonly metrics: Metrics,
    now?: () => number,
  ) {
    this.refusals = new RefusalLog(logger);
    this.configured = config.authentication;
    this.mutualTls = config.tls?.ca !== undefined;
    // Without admin.clients or admin.tokens, an empty list: nobody is an admin client.
    this.admins = config.admin.access !== undefined;
    this.admin = new AccessPolicy(config.admin.access ?? { clients: [], tokens: [] }, this.mutualTls, 'the admin endpoints');
    const tokens = [...config.namespaces.flatMap((ns) => ns.access?.tokens ?? []), ...(config.admin.access?.tokens ?? [])];
    this.tokenNames = new Map(tokens.map((t): [string, string] => [t.sha256, t.name]).reverse()); // the first name listed wins
    this.anyTokens = tokens.length > 0;
    this.throttle = new AuthThrottle(config.failedAuthLimit, now);
  }

  /**
   * Before credentials are looked at: if the request's address or certificate has
   * failed too often, answer 429 with Retry-After and return true. Valid credentials
   * get the same answer then, so the answer tells nothing about a guess.
   */
  throttled(x: Exchange, where: Refused): boolean {
    const wait = this.throttle.retryAfter(this.sourcesOf(x));
    if (wait === undefined) return false;
    this.metrics.authRefused(429);
    // Credentials are not read while throttled: the line names the certificate only.
    this.refusals.throttled(x, where, { identity: clientIdentities(x.req.socket)[0] }, wait);
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

  /** A service endpoint: if the caller may not use `path`, answer 401, 403 or 429 and return true. */
  refuseEndpoint(x: Exchange, path: string): boolean {
    if (!this.configured) return false;
    const guard = guardOf(path);
    if (guard === undefined) return false;
    const where = { endpoint: path };
    if (this.throttled(x, where)) return true;
    if (guard === 'admin') {
      const decision = this.admin.decide(x.req, 'read');
      if (decision.allowed) return false;
      // A token valid in a namespace is a known client, not an admin one: 403, as for a certificate.
      const known = decision.status === 401 && this.tokenName(x) !== undefined;
      this.refuse(x, where, known ? { status: 403, detail: 'This client may not use the admin endpoints' } : decision, this.admin.takesTokens);
      return true;
    }
    if (hasVerifiedCertificate(x.req.socket) || this.tokenName(x) !== undefined) return false;
    const needed = this.mutualTls
      ? this.anyTokens
        ? 'A client certificate or a valid bearer token is required'
        : 'A client certificate is required'
      : 'A valid bearer token is required';
    this.refuse(x, where, { status: 401, detail: needed }, this.anyTokens);
    return true;
  }

  /**
   * Who the admin client making this request is (`cert:<identity>` or `token:<name>`),
   * for the log of a destructive operation; undefined when no admin client is configured,
   * so nobody can be told apart. Call after refuseEndpoint has let the request through.
   */
  adminClient(x: Exchange): string | undefined {
    if (!this.admins) return undefined;
    const decision = this.admin.decide(x.req, 'read');
    return decision.allowed ? decision.client : undefined;
  }

  /**
   * /healthz: may this caller see the service's details (version, engine, uptime)?
   * Anyone may without authentication configured; with it, admin clients only. A
   * bearer token there that is valid nowhere counts as a failed authentication (else
   * /healthz would tell admin tokens from guesses, unthrottled), and while the
   * source is throttled a token there is not looked at.
   */
  seesDetails(x: Exchange): boolean {
    if (!this.configured) return true;
    const hasToken = x.req.headers.authorization !== undefined;
    if (!hasToken && !hasVerifiedCertificate(x.req.socket)) return false;
    if (hasToken && this.throttle.retryAfter(this.sourcesOf(x)) !== undefined) return false;
    if (this.admin.decide(x.req, 'read').allowed) return true;
    if (hasToken && this.tokenName(x) === undefined) this.failed(x, { endpoint: '/healthz' }, 200);
    return false;
  }

  /** Take a token from each source's bucket and log the failure (never the token itself, nor a key). */
  private failed(x: Exchange, where: Refused, status: number): void {
    this.throttle.failed(this.sourcesOf(x));
    const client = this.clientOf(x);
    x.token = client.token;
    this.refusals.failed(x, where, status, client);
  }

  /**
   * Who a refused request says it is: its verified certificate's first identity, and
   * the name of the configured token it carries ('unknown' for one configured nowhere).
   */
  private clientOf(x: Exchange): Client {
    const identity = clientIdentities(x.req.socket)[0];
    if (x.req.headers.authorization === undefined) return { identity };
    return { identity, token: this.tokenName(x) ?? 'unknown' };
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
