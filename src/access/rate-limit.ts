/**
 * Per-client request rate limits for a namespace: a token bucket per client
 * (its certificate identity, token name, or else its address; IPv6 by /64),
 * refilled at `perSecond` up to `burst`. Memory is bounded: at most MAX_CLIENTS
 * buckets, the least recently seen dropped first (a dropped client starts with a
 * full bucket).
 */
const MAX_CLIENTS = 100_000;

interface Bucket {
  tokens: number;
  updatedAt: number;
}

/** An anonymous client's rate-limit key: its IPv4 address, or the /64 of its IPv6 address. */
export function addressBlock(address: string | undefined): string {
  if (address === undefined) return 'unknown';
  if (!address.includes(':') || address.startsWith('::ffff:')) return address;
  const [head = '', tail = ''] = address.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === '' ? [] : tail.split(':');
  const groups = address.includes('::') ? [...left, ...Array(8 - left.length - right.length).fill('0'), ...right] : left;
  return `${groups.slice(0, 4).join(':')}::/64`;
}

export type RateDecision = { readonly allowed: true } | { readonly allowed: false; readonly retryAfterSeconds: number };

const ALLOWED: RateDecision = { allowed: true };

export class RateLimiter {
  /**
   * Two generations: recent clients in `current`, older ones in `previous`. When
   * `current` is full, `previous` is dropped and `current` takes its place: O(1) per
   * request, at most MAX_CLIENTS buckets, the least recently seen forgotten first.
   */
  private current = new Map<string, Bucket>();
  private previous = new Map<string, Bucket>();

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  take(client: string): RateDecision {
    const now = this.now();
    let bucket = this.current.get(client);
    if (bucket === undefined) {
      bucket = this.previous.get(client);
      if (bucket !== undefined) this.previous.delete(client);
      else bucket = { tokens: this.burst, updatedAt: now };
      if (this.current.size >= MAX_CLIENTS / 2) {
        this.previous = this.current;
        this.current = new Map();
      }
      this.current.set(client, bucket);
    }
    bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.updatedAt) / 1000) * this.perSecond);
    bucket.updatedAt = now;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { allowed: true };
    }
    return { allowed: false, retryAfterSeconds: this.retryAfter(bucket.tokens) };
  }

  /** What take() would decide now, without taking a token or remembering the client. */
  peek(client: string): RateDecision {
    const bucket = this.current.get(client) ?? this.previous.get(client);
    if (bucket === undefined) return ALLOWED;
    const tokens = Math.min(this.burst, bucket.tokens + ((this.now() - bucket.updatedAt) / 1000) * this.perSecond);
    return tokens >= 1 ? ALLOWED : { allowed: false, retryAfterSeconds: this.retryAfter(tokens) };
  }

  private retryAfter(tokens: number): number {
    return Math.max(1, Math.ceil((1 - tokens) / this.perSecond));
  }

  get size(): number {
    return this.current.size + this.previous.size;
  }
}
