/**
 * Failed authentications throttled per source: a token bucket for each source, filled to
 * `burst` and refilled at `perSecond`. Every failure (401, 403) takes a token from each of
 * its sources; a request from a source whose bucket is empty is refused (429) before its
 * credentials are looked at, so the answer says nothing about them. Memory is bounded as
 * the rate limiter's (it is one).
 *
 * The sources of a request are what it cannot forge:
 *   - a verified client certificate, by its SHA-256 fingerprint (`cert:<fingerprint>`): a
 *     look-alike certificate (the same CN or SAN from the same CA, another key) is
 *     another source, so its failures never spend the genuine one's budget;
 *   - its address (IPv4 address, IPv6 /64: `ip:<block>`), unless a certificate is all it
 *     presents: bearer tokens and requests without credentials are guesses or may be, and
 *     an address is what guesses have in common (each guess is another token). A
 *     certificate cannot be guessed; its failures do not throttle its address, and
 *     others' guesses from the same address do not lock it out.
 */
import type { Peer } from '../base/request.js';
import { addressBlock, RateLimiter } from './rate-limit.js';

/** The throttle's keys for a request (see above): `cert:<fingerprint>` for a verified certificate, `ip:<address block>` unless that is all it presents. */
export function authSources(remoteAddress: string | undefined, peer: Peer, presentsToken: boolean): string[] {
  const sources: string[] = [];
  if (peer.verified && peer.fingerprint !== undefined) sources.push(`cert:${peer.fingerprint}`);
  if (sources.length === 0 || presentsToken) sources.push(`ip:${addressBlock(remoteAddress)}`);
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
