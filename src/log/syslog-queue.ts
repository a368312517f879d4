/**
 * What the syslog sinks share: the bounded queue of lines waiting for a connection,
 * the reconnection backoff, and a bounded wait.
 */

/** Bytes queued for a slow or absent receiver before lines are dropped. */
export const MAX_QUEUED_BYTES = 4 * 1024 * 1024;
const RECONNECT_MIN_MS = 100;
const RECONNECT_MAX_MS = 5_000;

/**
 * Lines written while there is no connection to send them on (start-up, a name
 * lookup, a re-open, a reconnect), sent in order once there is one. Bounded,
 * together with what the connection has not sent yet, by MAX_QUEUED_BYTES.
 */
export class Waiting {
  private lines: Buffer[] = [];
  private size = 0;

  constructor(private readonly onDrop: () => void) {}

  get bytes(): number {
    return this.size;
  }

  /** Keep `message`, unless it would take the queue (plus `unsent` bytes not sent elsewhere) past the bound: then drop it. */
  push(message: Buffer, unsent: number): void {
    if (unsent + this.size + message.length > MAX_QUEUED_BYTES) return this.onDrop();
    this.lines.push(message);
    this.size += message.length;
  }

  take(): Buffer[] {
    const lines = this.lines;
    this.lines = [];
    this.size = 0;
    return lines;
  }

  dropAll(): void {
    for (const _ of this.take()) this.onDrop();
  }
}

/** Wait until `done()` holds, checking every 10 ms, for at most `timeoutMs`. */
export async function settle(done: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
}

/** Re-runs `attempt` after a failure: 100 ms, doubling up to 5 s; reset() once it succeeds. */
export class Backoff {
  private delayMs = RECONNECT_MIN_MS;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly attempt: () => void) {}

  schedule(): void {
    this.timer = setTimeout(this.attempt, this.delayMs);
    this.timer.unref();
    this.delayMs = Math.min(this.delayMs * 2, RECONNECT_MAX_MS);
  }

  reset(): void {
    this.delayMs = RECONNECT_MIN_MS;
  }

  cancel(): void {
    clearTimeout(this.timer);
    this.reset();
  }
}
