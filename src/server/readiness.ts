/**
 * Readiness for load balancers: ready only when the storage engine answers a
 * real probe within the timeout, and never while the service is shutting down.
 * Concurrent checks share one probe, so a burst of health checks is one call.
 */
import type { Metrics } from '../metrics/metrics.js';
import { StoragePermanentError, type PermanentCause, type StorageEngine } from '../storage/engine.js';

export type ReadinessResult =
  | { readonly ready: true; readonly probeMs: number }
  /** `permanent`: the engine refuses for a reason only an operator can fix (a missing table…). */
  | { readonly ready: false; readonly reason: string; readonly permanent?: PermanentCause };

export class Readiness {
  private draining = false;
  private inFlight: Promise<ReadinessResult> | undefined;

  constructor(
    private readonly engine: StorageEngine,
    private readonly timeoutMs: number,
    private readonly metrics: Metrics,
  ) {}

  /** From now on, report not ready (the service is shutting down). */
  drain(): void {
    this.draining = true;
    this.metrics.setReady(false);
  }

  get isDraining(): boolean {
    return this.draining;
  }

  check(): Promise<ReadinessResult> {
    if (this.draining) return Promise.resolve({ ready: false, reason: 'shutting down' });
    this.inFlight ??= this.probe().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async probe(): Promise<ReadinessResult> {
    const started = performance.now();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<ReadinessResult>((resolve) => {
      timer = setTimeout(() => resolve({ ready: false, reason: `${this.engine.kind} engine did not answer within ${this.timeoutMs} ms` }), this.timeoutMs);
    });
    const probe = this.engine.probe(this.timeoutMs).then(
      (): ReadinessResult => ({ ready: true, probeMs: performance.now() - started }),
      (err: unknown): ReadinessResult =>
        err instanceof StoragePermanentError
          ? { ready: false, reason: `${this.engine.kind} engine refuses requests: ${err.message}`, permanent: err.category }
          : { ready: false, reason: `${this.engine.kind} engine: ${(err as Error).message}` },
    );
    const result = await Promise.race([probe, timeout]).finally(() => clearTimeout(timer));
    // A probe that was under way when draining began must not report ready again.
    this.metrics.setReady(result.ready && !this.draining);
    return result;
  }
}
