/**
 * The errors a FirkinClient throws. Firkin answers errors with RFC 9457 problem
 * documents; these carry its `type` and `detail` (which never contain the key),
 * and messages name the operation, never the key: session keys are secrets.
 */

/** What a problem document said, as far as it said anything. */
export interface Problem {
  readonly status: number;
  readonly type: string | undefined;
  readonly title: string | undefined;
  readonly detail: string | undefined;
}

/** Base class: every error a FirkinClient throws on purpose is one. */
export class FirkinError extends Error {
  override name = 'FirkinError';
}

/**
 * The service could not serve the request now: a 5xx or 429 (too many requests)
 * answer, or no answer at all (connection refused or reset, a timeout), after the
 * retries the operation allows. `retryAfter` (seconds) is the server's Retry-After
 * when it sent one. `sent` is false when no attempt's request was written to a
 * connection (none could be made, or none was free in time): then nothing was
 * applied, and even an add or cas may be sent again.
 */
export class FirkinUnavailableError extends FirkinError {
  override name = 'FirkinUnavailableError';
  /** False: no attempt's request reached a connection, so nothing was applied. True when the server answered, or may have received it. */
  readonly sent: boolean;
  constructor(
    message: string,
    /** The HTTP status, or undefined when no answer came. */
    readonly status: number | undefined,
    readonly retryAfter: number | undefined,
    readonly type: string | undefined,
    readonly detail: string | undefined,
    options?: ErrorOptions & { readonly sent?: boolean },
  ) {
    super(message, options);
    this.sent = options?.sent ?? true;
  }
}

/**
 * The answer's body was larger than the client's `maxResponseBytes`: a broken or
 * hostile server (or proxy). The client stopped reading it and closed the connection;
 * it is not retried. `status` is the answer's HTTP status (for a write, the server
 * did answer: a 201 means it was stored).
 */
export class FirkinResponseTooLargeError extends FirkinUnavailableError {
  override name = 'FirkinResponseTooLargeError';
  constructor(
    message: string,
    status: number,
    /** The client's maxResponseBytes. */
    readonly limit: number,
  ) {
    super(message, status, undefined, undefined, undefined);
  }
}

/**
 * TLS failed: the server's certificate was refused (not signed by a trusted CA,
 * expired, for another host name; `code` says which, e.g.
 * `UNABLE_TO_VERIFY_LEAF_SIGNATURE`), the two sides could not agree on TLS at all
 * (`ERR_SSL_*`, e.g. an https: URL for an http: listener), or the server refused the
 * client's certificate: with a TLS alert (`ERR_SSL_*_ALERT_*`), or by closing the new
 * connection right after the key exchange, before any answer, as Firkin does with a
 * certificate its CA did not sign (`CLIENT_CERTIFICATE_REFUSED`). Thrown at once,
 * never retried: only a change of certificate or of the client's `tls` options helps.
 * No request was served.
 */
export class FirkinTlsError extends FirkinError {
  override name = 'FirkinTlsError';
  constructor(
    message: string,
    /** The OpenSSL or Node.js error code. */
    readonly code: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/**
 * The answer is not one a Firkin namespace gives: a success without a strong ETag
 * where Firkin always sends one (a 200 of get, a 201 of set), so `baseUrl` probably
 * names something else (a proxy, another service). Not retried. For a set, the
 * status says what the server claimed: a 201 means it says it stored the value.
 */
export class FirkinProtocolError extends FirkinError {
  override name = 'FirkinProtocolError';
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/**
 * The server refused the request as made (a 4xx problem other than 401/403/429): sending it again will not help.
 * Among them a 404 of type `urn:firkin:problem:no-namespace` (or any 404 that is not Firkin's absent-key
 * answer) to a get or touch: `baseUrl` names no namespace.
 */
export class FirkinRejectedError extends FirkinError {
  override name = 'FirkinRejectedError';
  constructor(
    message: string,
    readonly status: number,
    readonly type: string | undefined,
    readonly detail: string | undefined,
  ) {
    super(message);
  }
}

/** 401 (no or unknown credentials) or 403 (these credentials may not do this here). */
export class FirkinUnauthorisedError extends FirkinError {
  override name = 'FirkinUnauthorisedError';
  constructor(
    message: string,
    readonly status: 401 | 403,
    readonly type: string | undefined,
    readonly detail: string | undefined,
  ) {
    super(message);
  }
}

/** Seconds from a Retry-After header (delay-seconds or an HTTP date); undefined when absent or unreadable. */
export function parseRetryAfter(header: string | undefined, now = Date.now()): number | undefined {
  if (header === undefined) return undefined;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Number(text);
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now) / 1000));
}

/** The fields of a problem document body, tolerating a body that is not one. */
export function readProblem(status: number, body: Buffer, contentType: string | undefined): Problem {
  let doc: Record<string, unknown> = {};
  if (contentType !== undefined && /json/i.test(contentType)) {
    try {
      const parsed: unknown = JSON.parse(body.toString('utf8'));
      if (typeof parsed === 'object' && parsed !== null) doc = parsed as Record<string, unknown>;
    } catch {
      // not JSON after all: the status alone describes it
    }
  }
  const text = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
  return { status, type: text(doc.type), title: text(doc.title), detail: text(doc.detail) };
}

/** The error for an answer no operation expects, by its status class. */
export function errorFor(operation: string, problem: Problem, retryAfter: number | undefined): FirkinError {
  const { status, type, title, detail } = problem;
  const message = `firkin ${operation}: ${status}${title === undefined ? '' : ` ${title}`}${detail === undefined ? '' : `: ${detail}`}`;
  if (status === 401 || status === 403) return new FirkinUnauthorisedError(message, status, type, detail);
  // 429: too many requests (the namespace's rate limit, or failed authentications): the same request may succeed after Retry-After.
  if (status >= 500 || status === 429) return new FirkinUnavailableError(message, status, retryAfter, type, detail);
  return new FirkinRejectedError(message, status, type, detail);
}
