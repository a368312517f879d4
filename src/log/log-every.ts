/**
 * A recurring event logged at most once per interval per key, with the number of
 * occurrences since the last line: a store that is full, or a cause that refuses
 * every request, writes one line, not one per request. Keys must come from a small
 * set (a namespace and a cause category), never from clients.
 */
export class LogEvery {
  private readonly seen = new Map<string, { loggedAt: number; count: number }>();

  constructor(private readonly intervalMs: number) {}

  /** Count one occurrence of `key`; if a line is due, return the count it should report (and start over). */
  due(key = ''): number | undefined {
    const now = performance.now();
    let s = this.seen.get(key);
    if (s === undefined) this.seen.set(key, (s = { loggedAt: -Infinity, count: 0 }));
    s.count++;
    if (now - s.loggedAt < this.intervalMs) return undefined;
    const count = s.count;
    s.loggedAt = now;
    s.count = 0;
    return count;
  }
}
