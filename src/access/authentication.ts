/**
 * Authentication across the service, beside each namespace's own AccessPolicy:
 *
 *   - failed authentications (every 401 and 403) are throttled per client certificate
 *     and per source address (AuthThrottle, throttle.ts), logged (RefusalLog: `authentication
 *     failed`, with the token's name, never its value) and counted;
 *   - once authentication is configured (tls.ca, namespace tokens or admin
 *     credentials), the service endpoints are guarded: /metrics and /admin/* need an
 *     admin client (admin.clients, admin.tokens), /openapi any valid credentials,
 *     and /healthz shows its details (version, engine, uptime) to admin clients only.
 *     /readyz stays open. Without authentication configured, all stay open (Kask),
 *     except the destructive ones (truncation), which need an admin client always
 *     (adminClient).
 *
 * It decides and records; the API turns a refusal into its answer (401, 403, 429).
 * One per process, shared by its listeners (the main one and the admin one).
 */
import { createHash } from 'node:crypto';
import type { RequestContext } from '../base/request.js';
import type { FirkinConfig } from '../config/types.js';
import type { Logger } from '../log/logger.js';
import { AccessPolicy, BEARER, type Credentials } from './policy.js';
import { AuthThrottle, authSources } from './throttle.js';
import { RefusalLog, type Client, type Refused } from './refusal-log.js';

/** The parts of a request authentication looks at. */
export type Caller = Credentials & Pick<RequestContext, 'requestId' | 'remoteAddress'>;

/** A refusal to answer: 401 (no or unknown credentials) or 403 (known, not allowed). */
export interface Refusal {
  readonly status: 401 | 403;
  readonly detail: string;
}

/**
 * What to answer a refused request: 401 (with a Bearer challenge if `challenge`), 403, or
 * 429 while its source is throttled (credentials unread). `token`: the name of the
 * configured token it carried ('unknown' for one configured nowhere), for the request's log line.
 */
export type Verdict =
  | { readonly status: 401 | 403; readonly detail: string; readonly challenge: boolean; readonly token: string | undefined }
  | { readonly status: 429; readonly retryAfterSeconds: number };

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
    /** Told of each refusal (metrics). */
    private readonly onRefused: (status: 401 | 403 | 429) => void = () => undefined,
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
   * failed too often, a 429 verdict (counted and logged). Valid credentials get the
   * same answer then, so the answer tells nothing about a guess.
   */
  throttled(x: Caller, where: Refused): Verdict | undefined {
    const wait = this.throttle.retryAfter(this.sourcesOf(x));
    if (wait === undefined) return undefined;
    this.onRefused(429);
    // Credentials are not read while throttled: the line names the certificate only.
    this.refusals.throttled(x, where, { identity: x.peer.identities[0] }, wait);
    return { status: 429, retryAfterSeconds: wait };
  }

  /** A refused request (401, with a Bearer challenge if `challenge`, or 403): count, throttle and log it. */
  refuse(x: Caller, where: Refused, refusal: Refusal, challenge: boolean): Verdict {
    const client = this.failed(x, where, refusal.status);
    this.onRefused(refusal.status);
    return { status: refusal.status, detail: refusal.detail, challenge: refusal.status === 401 && challenge, token: client.token };
  }

  /** A service endpoint: undefined if the caller may use `path`, else the verdict (401, 403 or 429). */
  refuseEndpoint(x: Caller, path: string): Verdict | undefined {
    if (!this.configured) return undefined;
    const guard = guardOf(path);
    if (guard === undefined) return undefined;
    const where = { endpoint: path };
    const throttled = this.throttled(x, where);
    if (throttled !== undefined) return throttled;
    if (guard === 'admin') {
      const decision = this.admin.decide(x, 'read');
      if (decision.allowed) return undefined;
      // A token valid in a namespace is a known client, not an admin one: 403, as for a certificate.
      const known = decision.status === 401 && this.tokenName(x) !== undefined;
      return this.refuse(x, where, known ? { status: 403, detail: 'This client may not use the admin endpoints' } : decision, this.admin.takesTokens);
    }
    if (x.peer.verified || this.tokenName(x) !== undefined) return undefined;
    const needed = this.mutualTls
      ? this.anyTokens
        ? 'A client certificate or a valid bearer token is required'
        : 'A client certificate is required'
      : 'A valid bearer token is required';
    return this.refuse(x, where, { status: 401, detail: needed }, this.anyTokens);
  }

  /**
   * Who the admin client making this request is (`cert:<identity>` or `token:<name>`),
   * for the log of a destructive operation; undefined when no admin client is configured,
   * so nobody can be told apart. Call after refuseEndpoint has let the request through.
   */
  adminClient(x: Caller): string | undefined {
    if (!this.admins) return undefined;
    const decision = this.admin.decide(x, 'read');
    return decision.allowed ? decision.client : undefined;
  }

  /**
   * /healthz: may this caller see the service's details (version, engine, uptime)?
   * Anyone may without authentication configured; with it, admin clients only. A
   * bearer token there that is valid nowhere counts as a failed authentication (else
   * /healthz would tell admin tokens from guesses, unthrottled), and while the
   * source is throttled a token there is not looked at.
   */
  seesDetails(x: Caller): boolean {
    if (!this.configured) return true;
    const hasToken = x.headers.authorization !== undefined;
    if (!hasToken && !x.peer.verified) return false;
    if (hasToken && this.throttle.retryAfter(this.sourcesOf(x)) !== undefined) return false;
    if (this.admin.decide(x, 'read').allowed) return true;
    if (hasToken && this.tokenName(x) === undefined) this.failed(x, { endpoint: '/healthz' }, 200);
    return false;
  }

  /** Take a token from each source's bucket and log the failure (never the token itself, nor a key). */
  private failed(x: Caller, where: Refused, status: number): Client {
    this.throttle.failed(this.sourcesOf(x));
    const client = this.clientOf(x);
    this.refusals.failed(x, where, status, client);
    return client;
  }

  /**
   * Who a refused request says it is: its verified certificate's first identity, and
   * the name of the configured token it carries ('unknown' for one configured nowhere).
   */
  private clientOf(x: Caller): Client {
    const identity = x.peer.identities[0];
    if (x.headers.authorization === undefined) return { identity };
    return { identity, token: this.tokenName(x) ?? 'unknown' };
  }

  /** The name of the configured token the request carries, if it carries one. */
  private tokenName(x: Credentials): string | undefined {
    const authorization = x.headers.authorization;
    const token = authorization === undefined ? undefined : BEARER.exec(authorization)?.[1];
    if (token === undefined) return undefined;
    return this.tokenNames.get(createHash('sha256').update(token).digest('hex'));
  }

  private sourcesOf(x: Caller): string[] {
    return authSources(x.remoteAddress, x.peer, x.headers.authorization !== undefined);
  }
}
