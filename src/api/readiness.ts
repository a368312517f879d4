/**
 * Readiness for load balancers: ready only when the storage engine answers a
 * real probe within the timeout, and never while the service is shutting down.
 * Concurrent checks share one probe, so a burst of health checks is one call.
 */
import type { ServiceState } from '../base/request.js';
import type { StorageEngine } from '../storage/engine.js';
import { StorageError } from '../storage/errors.js';

export type ReadinessResult =
  | { readonly ready: true; readonly probeMs: number }
  /** `permanent`: the engine refuses for a reason only an operator can fix (a missing table, damaged data…). */
  | { readonly ready: false; readonly reason: string; readonly permanent?: string };

export class Readiness {
  private inFlight: Promise<ReadinessResult> | undefined;

  constructor(
    private readonly engine: StorageEngine,
    private readonly timeoutMs: number,
    /** Shared with the transport: draining closes every connection after its answer. */
    private readonly state: ServiceState,
    /** Told of each probe's result (metrics). */
    private readonly onReady: (ready: boolean) => void = () => undefined,
  ) {}

  /** From now on, report not ready (the service is shutting down). */
  drain(): void {
    this.state.draining = true;
    this.onReady(false);
  }

  get isDraining(): boolean {
    return this.state.draining;
  }

  check(): Promise<ReadinessResult> {
    if (this.state.draining) return Promise.resolve({ ready: false, reason: 'shutting down' });
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
        err instanceof StorageError && err.needsOperator
          ? { ready: false, reason: `${this.engine.kind} engine refuses requests: ${err.message}`, permanent: err.kind === 'corrupt' ? 'corrupt' : (err.category ?? 'permanent') }
          : { ready: false, reason: `${this.engine.kind} engine: ${(err as Error).message}` },
    );
    const result = await Promise.race([probe, timeout]).finally(() => clearTimeout(timer));
    // A probe that was under way when draining began must not report ready again.
    this.onReady(result.ready && !this.state.draining);
    return result;
  }
}
