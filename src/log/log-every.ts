/**
 * A recurring event logged at most `lines` times per interval per key, with the
 * number of occurrences since the last line: a store that is full, or a cause that
 * refuses every request, writes a bounded number of lines, not one per request.
 * Keys must come from a small set (a namespace and a cause category), never from
 * clients.
 */
export class LogEvery {
  private readonly seen = new Map<string, { windowStart: number; lines: number; count: number }>();

  constructor(
    private readonly intervalMs: number,
    /** Lines allowed per interval and key: the first ones of an interval are each logged, later ones only counted. */
    private readonly lines = 1,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Count one occurrence of `key`; if a line is due, return the count it should report (and start over). */
  due(key = ''): number | undefined {
    const now = this.now();
    let s = this.seen.get(key);
    if (s === undefined) this.seen.set(key, (s = { windowStart: -Infinity, lines: 0, count: 0 }));
    s.count++;
    if (now - s.windowStart >= this.intervalMs) {
      s.windowStart = now;
      s.lines = 0;
    }
    if (s.lines >= this.lines) return undefined;
    s.lines++;
    const count = s.count;
    s.count = 0;
    return count;
  }
}
