/**
 * A process-wide budget of bytes (response bodies waiting to leave): a response
 * takes its size before it is written and gives it back once it has left. A
 * response that does not fit is refused (503) rather than queued.
 */
export class ByteBudget {
  private used = 0;

  constructor(readonly limit: number) {}

  /** Reserve `bytes`; false (nothing reserved) if they do not fit. */
  take(bytes: number): boolean {
    if (this.used + bytes > this.limit) return false;
    this.used += bytes;
    return true;
  }

  release(bytes: number): void {
    this.used -= bytes;
  }

  /** Bytes reserved now. */
  get inUse(): number {
    return this.used;
  }
}
