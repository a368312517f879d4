/** One request and its response, with the headers every response carries. */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Operation } from '../metrics/metrics.js';
import { problemBody, type ProblemType } from './problem.js';

export class Exchange {
  /** Set once routed: the namespace and key (for metrics and the log; the key only ever as a hash). */
  namespace: string | undefined;
  key: string | undefined;
  operation: Operation | undefined;
  /** A service endpoint (/healthz, /metrics…): not counted in the request metrics. */
  endpoint = false;
  /** Counted against max_in_flight until answered. */
  holdsSlot = false;

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly requestId: string,
    /** True while the server drains before exit: answers ask clients to reconnect elsewhere. */
    private readonly closing: () => boolean,
  ) {}

  send(status: number, headers: OutgoingHttpHeaders, body?: Buffer | string): void {
    headers['Cache-Control'] ??= 'no-store';
    headers['X-Request-ID'] = this.requestId;
    // A body we did not read must not be read later as the next request: close instead.
    if (hasUnreadBody(this.req) || this.closing()) headers.Connection = 'close';
    this.res.writeHead(status, headers);
    this.res.end(body);
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
