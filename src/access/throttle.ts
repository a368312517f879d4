/**
 * Failed authentications throttled per source: a token bucket for each source
 * address (IPv4 address, IPv6 /64) and each client certificate identity, filled
 * to `burst` and refilled at `perSecond`. Every failure (401, 403) takes a token
 * from each of its sources; a request from a source whose bucket is empty is
 * refused (429) before its credentials are looked at, so the answer says nothing
 * about them. Memory is bounded as the rate limiter's (it is one).
 */
import { addressBlock, RateLimiter } from './rate-limit.js';

/** The throttle's keys for a request: `ip:<address block>`, and `cert:<first identity>` if a verified certificate names one. */
export function authSources(remoteAddress: string | undefined, identities: readonly string[]): string[] {
  const sources = [`ip:${addressBlock(remoteAddress)}`];
  if (identities[0] !== undefined) sources.push(`cert:${identities[0]}`);
  return sources;
}

export class AuthThrottle {
  private readonly buckets: RateLimiter;

  constructor(limit: { readonly burst: number; readonly perSecond: number }, now?: () => number) {
    this.buckets = new RateLimiter(limit.perSecond, limit.burst, now);
  }

  /** Seconds until every one of `sources` may fail again; undefined if none is throttled now. Takes nothing. */
  retryAfter(sources: readonly string[]): number | undefined {
    let wait: number | undefined;
    for (const source of sources) {
      const d = this.buckets.peek(source);
      if (!d.allowed) wait = Math.max(wait ?? 0, d.retryAfterSeconds);
    }
    return wait;
  }

  /** A failed authentication: one token from each source's bucket. */
  failed(sources: readonly string[]): void {
    for (const source of sources) this.buckets.take(source);
  }

  /** Sources remembered (for tests of the memory bound). */
  get size(): number {
    return this.buckets.size;
  }
}
