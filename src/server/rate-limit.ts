/**
 * Per-client request rate limits for a namespace: a token bucket per client
 * (its certificate identity, token name, or else its address), refilled at
 * `perSecond` up to `burst`. Memory is bounded: at most MAX_CLIENTS buckets,
 * the least recently seen dropped first (a dropped client starts with a full bucket).
 */
const MAX_CLIENTS = 100_000;

interface Bucket {
  tokens: number;
  updatedAt: number;
}

export type RateDecision = { readonly allowed: true } | { readonly allowed: false; readonly retryAfterSeconds: number };

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  take(client: string): RateDecision {
    const now = this.now();
    let bucket = this.buckets.get(client);
    if (bucket === undefined) {
      bucket = { tokens: this.burst, updatedAt: now };
      if (this.buckets.size >= MAX_CLIENTS) this.buckets.delete(this.buckets.keys().next().value!);
    } else {
      this.buckets.delete(client); // re-inserted below: the map's order is least recently seen first
      bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.updatedAt) / 1000) * this.perSecond);
      bucket.updatedAt = now;
    }
    this.buckets.set(client, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { allowed: true };
    }
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / this.perSecond)) };
  }

  get size(): number {
    return this.buckets.size;
  }
}
