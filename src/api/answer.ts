/**
 * What the API answers: a status, headers and a body, for the transport to write
 * (with the headers every answer carries: transport/exchange.ts). Built by the
 * constructors below, so every answer has the same shape.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import type { Verdict } from '../access/authentication.js';
import { BEARER_CHALLENGE } from '../access/policy.js';
import type { Operation } from '../base/operations.js';
import { PROBLEMS, problemBody, type ProblemType } from './problem.js';

export interface Answer {
  readonly status: number;
  readonly headers: OutgoingHttpHeaders;
  readonly body: Buffer | string | undefined;
  /** The client went away mid-request: there is nothing to answer, the connection is dropped. */
  readonly abandoned: boolean;
}

/** An answer, and what the request was about: for its metrics and its log line. */
export interface Served {
  readonly answer: Answer;
  /** A service endpoint (/healthz, /metrics…): not counted in the request metrics. */
  readonly endpoint: boolean;
  /** The namespace the request was routed to, if any. */
  readonly namespace: string | undefined;
  /** The key, once routed (only ever logged as a keyed hash). */
  readonly key: string | undefined;
  readonly operation: Operation | undefined;
  /** The name of the configured token the request carried, once looked at ('unknown' for one configured nowhere). */
  readonly token: string | undefined;
}

export function answer(status: number, headers: OutgoingHttpHeaders, body?: Buffer | string): Answer {
  return { status, headers, body, abandoned: false };
}

/** A JSON document (for HEAD, node:http sends the headers and drops the body). */
export function json(status: number, value: unknown): Answer {
  const body = JSON.stringify(value);
  return answer(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) }, body);
}

/** An RFC 7807 problem document for request `requestId`. */
export function problem(requestId: string, type: ProblemType, detail?: string, headers?: OutgoingHttpHeaders): Answer {
  const body = problemBody(type, requestId, detail);
  return answer(
    type.status,
    { ...headers, 'Content-Type': 'application/problem+json', 'Content-Length': Buffer.byteLength(body), 'X-Content-Type-Options': 'nosniff' },
    body,
  );
}

/** The client went away mid-request. */
export const ABANDONED: Answer = Object.freeze({ status: 0, headers: {}, body: undefined, abandoned: true });

/** A service endpoint's answer. */
export function fromEndpoint(a: Answer): Served {
  return { answer: a, endpoint: true, namespace: undefined, key: undefined, operation: undefined, token: undefined };
}

/** The answer to a request that access/ refused: 401 (with a Bearer challenge where tokens are taken), 403, or 429. */
export function refusalAnswer(requestId: string, verdict: Verdict): Answer {
  if (verdict.status === 429) return problem(requestId, PROBLEMS.tooManyAuthFailures, undefined, { 'Retry-After': String(verdict.retryAfterSeconds) });
  if (verdict.status === 403) return problem(requestId, PROBLEMS.forbidden, verdict.detail);
  return problem(requestId, PROBLEMS.notAuthorized, verdict.detail, verdict.challenge ? { 'WWW-Authenticate': BEARER_CHALLENGE } : undefined);
}
