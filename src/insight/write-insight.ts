/**
 * Write-pattern insight (Wikimedia's T392182): which session keys are rewritten
 * most, and how often a write repeats the value already stored.
 *
 * Keys are counted as keyed hashes (the same short hash the logs use), never in
 * clear. The most-written keys come from a Space-Saving sketch per time window:
 * memory is `sketch_size` counters per window, whatever the number of keys.
 * Two windows are kept: the one filling now and the last complete one.
 *
 * A write is only noted on the request's path (its namespace and key in a bounded
 * queue); the hashing and counting happen for the queue at once, at most
 * `FLUSH_AFTER_MS` later, when it holds `BATCH` writes, before a report, or at the
 * first write after its window ended (so each write counts in the window it was made in). A hash of
 * one key between two requests costs 10–20 times one of a batch in a loop, whose code and
 * tables stay in the CPU's caches (benchmarks/crypto-cold.mjs, issue 24). Counts stay
 * exact; a key is held in clear in the queue for at most that long, as the request's own
 * buffers hold it, and leaves it only as its keyed hash.
 */
import type { InsightConfig } from '../config/types.js';
import type { KeyHasher } from '../log/key-hash.js';
import { SpaceSaving } from './space-saving.js';

interface Window {
  readonly startedAt: number;
  readonly sketch: SpaceSaving<string>;
}

export interface TopKeysWindow {
  readonly started: string;
  /** End of the window; for the current one, when it will end. */
  readonly ends: string;
  readonly complete: boolean;
  /** Writes counted in this window. */
  readonly writes: number;
  /** A key not listed in `top` was written at most this many times in this window (0: every key written is listed or was counted exactly). */
  readonly unlisted_max_writes: number;
  readonly top: readonly {
    readonly namespace: string;
    readonly key_hash: string;
    /** Writes of this key in the window (an upper bound). */
    readonly writes: number;
    /** How many of `writes` may belong to other keys (0: exact). */
    readonly max_overcount: number;
  }[];
}

export interface TopKeysReport {
  readonly window_seconds: number;
  readonly sketch_size: number;
  readonly key_hash: string;
  /**
   * With workers: how many run, and how many reported in time. When fewer reported,
   * the counts of those that did not are missing, so `writes` may be below the truth.
   */
  readonly workers?: { readonly running: number; readonly reporting: number };
  readonly windows: readonly TopKeysWindow[];
}

const SEPARATOR = '\u0000';

/** Writes noted before they are counted at once (the queue's bound). */
export const BATCH = 256;
/** The longest a noted write waits to be counted. */
export const FLUSH_AFTER_MS = 100;

export class WriteInsight {
  private current: Window;
  private previous: Window | undefined;
  private readonly windowMs: number;
  /** Writes noted and not yet counted: namespaces and keys, in step (at most BATCH). */
  private readonly pendingNamespaces: string[] = [];
  private readonly pendingKeys: string[] = [];
  private flushTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly config: InsightConfig,
    private readonly hasher: KeyHasher,
    private readonly now: () => number = Date.now,
  ) {
    this.windowMs = config.windowSeconds * 1000;
    // Windows start at wall-clock multiples of their length (10:00, 10:05…), the same on every instance.
    const started = this.now();
    this.current = this.newWindow(started - (started % this.windowMs));
  }

  /** An applied write of `key` in `namespace`. */
  written(namespace: string, key: string): void {
    // Past the end of the window: what is queued was written in it, and is counted there.
    if (this.now() - this.current.startedAt >= this.windowMs) {
      this.flush();
      this.rotate();
    }
    this.pendingNamespaces.push(namespace);
    if (this.pendingKeys.push(key) >= BATCH) return this.flush();
    if (this.flushTimer === undefined) {
      this.flushTimer = setTimeout(() => this.flush(), FLUSH_AFTER_MS);
      this.flushTimer.unref();
    }
  }

  /**
   * Count the writes noted so far, in the current window: they were all noted in it (a
   * write noted after its end counts the queue first, then rotates).
   */
  flush(): void {
    if (this.flushTimer !== undefined) {
      clearTimeout(this.flushTimer);
      this.flushTimer = undefined;
    }
    const count = this.pendingKeys.length;
    if (count === 0) return;
    const { sketch } = this.current;
    const namespaces = this.pendingNamespaces;
    const keys = this.pendingKeys;
    for (let i = 0; i < count; i++) sketch.add(namespaces[i]! + SEPARATOR + this.hasher.hash(namespaces[i]!, keys[i]!));
    namespaces.length = 0;
    keys.length = 0;
  }

  /** The report, listing `limit` keys per window (the workers send the primary their whole sketch). */
  report(limit = this.config.topKeys): TopKeysReport {
    this.flush();
    this.rotate();
    const windows = [this.current, this.previous].filter((w): w is Window => w !== undefined);
    return {
      window_seconds: this.config.windowSeconds,
      sketch_size: this.config.sketchSize,
      key_hash: 'first 72 bits of SHA-256 of a per-process secret, namespace and key, as in the logs',
      windows: windows.map((w) => {
        const entries = w.sketch.top(limit + 1);
        return {
          started: new Date(w.startedAt).toISOString(),
          ends: new Date(w.startedAt + this.windowMs).toISOString(),
          complete: w !== this.current,
          writes: w.sketch.observed,
          // A key not listed: below the first one left out, or never held by a counter (at most the floor).
          unlisted_max_writes: entries.length > limit ? entries[limit]!.count : w.sketch.floor,
          top: entries.slice(0, limit).map((e) => {
            const [namespace = '', hash = ''] = e.item.split(SEPARATOR);
            return { namespace, key_hash: hash, writes: e.count, max_overcount: e.error };
          }),
        };
      }),
    };
  }

  private rotate(): void {
    const now = this.now();
    const elapsed = now - this.current.startedAt;
    if (elapsed < this.windowMs) return;
    const start = this.current.startedAt + Math.floor(elapsed / this.windowMs) * this.windowMs;
    // After a gap of more than a window without writes, the last complete window was empty.
    this.previous = elapsed < 2 * this.windowMs ? this.current : this.newWindow(start - this.windowMs);
    this.current = this.newWindow(start);
  }

  private newWindow(startedAt: number): Window {
    return { startedAt, sketch: new SpaceSaving<string>(this.config.sketchSize) };
  }
}
