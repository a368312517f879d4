/** One request and its response, with the headers every response carries. */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Operation } from '../metrics/metrics.js';
import type { ByteBudget } from './byte-budget.js';
import { PROBLEMS, problemBody, type ProblemType } from './problem.js';
import { RETRY_AFTER_SECONDS } from './protocol.js';

/** What every exchange of one listener shares. */
export interface ExchangeLimits {
  /** Bytes of response bodies not yet handed to the kernel, across the process. */
  readonly budget: ByteBudget;
  /** A response still not flushed this long after it was written closes its connection. */
  readonly writeTimeoutMs: number;
  /** True while the server drains before exit: answers ask clients to reconnect elsewhere. */
  readonly closing: () => boolean;
}

/** Bodies up to this size are not counted against the budget (bounded by connections × this). */
const UNCOUNTED_BODY_BYTES = 16 * 1024;

export class Exchange {
  /** Set once routed: the namespace and key (for metrics and the log; the key only ever as a hash). */
  namespace: string | undefined;
  key: string | undefined;
  operation: Operation | undefined;
  /** The name of the configured token the request carried, once looked at ('unknown' for one configured nowhere): for the log. */
  token: string | undefined;
  /** A service endpoint (/healthz, /metrics…): not counted in the request metrics. */
  endpoint = false;
  /** Counted against max_in_flight until the response has left. */
  holdsSlot = false;
  /** Bytes of this response's body counted against the budget until it has left. */
  private reserved = 0;
  private writeTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly requestId: string,
    private readonly limits: ExchangeLimits,
    /** Called once the response has left (flushed to the kernel) or the connection is gone. */
    onSettled: () => void,
  ) {
    res.once('close', () => {
      if (this.reserved > 0) limits.budget.release(this.reserved);
      if (this.writeTimer !== undefined) clearTimeout(this.writeTimer);
      onSettled();
    });
  }

  send(status: number, headers: OutgoingHttpHeaders, body?: Buffer | string): void {
    // Every answer passes here: a short string (a problem document, a 404) is under the bound
    // whatever its encoding (at most 3 bytes per UTF-16 unit), without measuring it.
    const size =
      body === undefined ? 0 : typeof body !== 'string' ? body.length : body.length * 3 <= UNCOUNTED_BODY_BYTES ? 0 : Buffer.byteLength(body);
    if (size > UNCOUNTED_BODY_BYTES && this.req.method !== 'HEAD') {
      if (!this.limits.budget.take(size)) {
        return this.problem(PROBLEMS.overloaded, 'Too many response bytes are waiting to be sent; retry later', {
          'Retry-After': RETRY_AFTER_SECONDS,
        });
      }
      this.reserved = size;
    }
    headers['Cache-Control'] ??= 'no-store';
    headers['X-Request-ID'] = this.requestId;
    // A body we did not read must not be read later as the next request: close instead.
    if (hasUnreadBody(this.req) || this.limits.closing()) headers.Connection = 'close';
    this.res.writeHead(status, headers);
    this.res.end(body);
    // What the kernel would not take yet waits in the socket: a client that does not read
    // must not hold it (and its slot) for longer than the write timeout.
    const socket = this.res.socket;
    if (socket !== null && socket.writableLength > 0 && !this.res.writableFinished) {
      this.writeTimer = setTimeout(() => socket.destroy(), this.limits.writeTimeoutMs);
      this.writeTimer.unref();
    }
  }

  json(status: number, value: unknown): void {
    const body = JSON.stringify(value);
    // For HEAD, node:http sends the headers and drops the body.
    this.send(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) }, body);
  }

  problem(problem: ProblemType, detail?: string, extra?: OutgoingHttpHeaders): void {
    const body = problemBody(problem, this.requestId, detail);
    this.send(
      problem.status,
      {
        ...extra,
        'Content-Type': 'application/problem+json',
        'Content-Length': Buffer.byteLength(body),
        'X-Content-Type-Options': 'nosniff',
      },
      body,
    );
  }

  /** The client went away mid-request: nothing to answer. */
  abandon(): void {
    this.res.destroy();
  }
}

function hasUnreadBody(req: IncomingMessage): boolean {
  if (req.complete) return false;
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}
