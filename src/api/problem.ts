/**
 * RFC 7807 problem documents. Kask's four problem types keep Kask's URIs exactly
 * (`https://www.mediawiki.org/wiki/Kask/errors/<slug>`, as Kask v1.0.0 and later
 * send them), with Kask's titles and default details, so clients that match on
 * them see no change; Firkin's own problems use `urn:firkin:problem:*`.
 *
 * Kask labels its problem documents `application/json`; Firkin sends the
 * registered `application/problem+json` (RFC 9457). No known client looks at the
 * content type of an error (MediaWiki's RESTBagOStuff only logs the status and
 * body), and docs/kask.md lists the difference.
 *
 * No problem document ever contains a session key: `instance` names the request
 * (by its request ID), and `detail` is written here or by the server, never
 * copied from the request.
 */

export interface ProblemType {
  readonly status: number;
  readonly type: string;
  readonly title: string;
  /** Default detail when the caller gives none. */
  readonly detail: string;
}

const kask = (slug: string): string => `https://www.mediawiki.org/wiki/Kask/errors/${slug}`;
const firkin = (slug: string): string => `urn:firkin:problem:${slug}`;

export const PROBLEMS = {
  badRequest: { status: 400, type: kask('bad_request'), title: 'Bad request', detail: 'The request was incorrect or malformed' },
  notAuthorized: { status: 401, type: kask('not_authorized'), title: 'Not authorized', detail: 'Unable to authorize request' },
  notFound: { status: 404, type: kask('not_found'), title: 'Not found', detail: 'The value you requested was not found' },
  internal: {
    status: 500,
    type: kask('server_error'),
    title: 'Internal server error',
    detail: 'The server encountered an error with your request',
  },
  forbidden: { status: 403, type: firkin('forbidden'), title: 'Forbidden', detail: 'This client may not do that in this namespace' },
  /**
   * A path under no namespace's base URI: Kask's status (MediaWiki looks only at the status), a type of its own, so a
   * client can tell a mistyped base URL from an absent key (Kask's not_found).
   */
  noRoute: { status: 404, type: firkin('no-namespace'), title: 'No namespace', detail: 'No namespace is served at this path' },
  methodNotAllowed: {
    status: 405,
    type: firkin('method-not-allowed'),
    title: 'Method not allowed',
    detail: 'This method is not supported here; see the Allow header',
  },
  requestTimeout: { status: 408, type: firkin('request-timeout'), title: 'Request timeout', detail: 'The request took too long to arrive' },
  expectationFailed: {
    status: 417,
    type: firkin('expectation-failed'),
    title: 'Expectation failed',
    detail: 'Only Expect: 100-continue is supported',
  },
  headersTooLarge: {
    status: 431,
    type: firkin('headers-too-large'),
    title: 'Request header fields too large',
    detail: 'The request head is too large',
  },
  preconditionFailed: {
    status: 412,
    type: firkin('precondition-failed'),
    title: 'Precondition failed',
    detail: 'The stored value does not satisfy the If-Match or If-None-Match condition',
  },
  tooLarge: { status: 413, type: firkin('value-too-large'), title: 'Value too large', detail: 'The value exceeds the maximum size' },
  keyTooLong: { status: 414, type: firkin('key-too-long'), title: 'Key too long', detail: 'The key exceeds the maximum length' },
  unavailable: {
    status: 503,
    type: firkin('storage-unavailable'),
    title: 'Storage unavailable',
    detail: 'The storage engine could not complete the request; retry later',
  },
  /** A namespace whose Cassandra table (or keyspace) does not exist: only an operator can create it. */
  schemaMissing: {
    status: 503,
    type: firkin('schema-missing'),
    title: 'Storage schema missing',
    detail: "This namespace's Cassandra table does not exist; an operator must create it (firkin schema --config FILE --apply)",
  },
  outcomeUnknown: {
    status: 503,
    type: firkin('outcome-unknown'),
    title: 'Outcome unknown',
    detail:
      'The conditional write timed out after it was sent: it may have been applied, or may still be. ' +
      'Read the key (GET) to see which value is stored before deciding whether to retry',
  },
  conditionalWritesDisabled: {
    status: 400,
    type: firkin('conditional-writes-disabled'),
    title: 'Conditional writes not enabled',
    detail:
      'This namespace does not take If-Match or If-None-Match on writes: on Cassandra they need conditional_writes: true ' +
      'in its configuration, which runs every write through Paxos (see docs/cassandra.md). Send the write without the condition, ' +
      'or ask the operator to enable conditional writes',
  },
  insufficientStorage: {
    status: 507,
    type: firkin('insufficient-storage'),
    title: 'Insufficient storage',
    detail: 'The store is full; writes are refused until entries expire or are deleted',
  },
  rateLimited: {
    status: 429,
    type: firkin('rate-limited'),
    title: 'Too many requests',
    detail: 'This client exceeded the rate limit of this namespace; see Retry-After',
  },
  tooManyAuthFailures: {
    status: 429,
    type: firkin('too-many-auth-failures'),
    title: 'Too many failed authentications',
    detail: 'Too many failed authentications from this address or client certificate; see Retry-After',
  },
  overloaded: {
    status: 503,
    type: firkin('overloaded'),
    title: 'Overloaded',
    detail: 'Too many requests are in progress; retry later',
  },
  notReady: {
    status: 503,
    type: firkin('not-ready'),
    title: 'Not ready',
    detail: 'The service should not receive traffic now',
  },
} as const satisfies Record<string, ProblemType>;

/** The problem document's body for one request. */
export function problemBody(problem: ProblemType, requestId: string, detail?: string): string {
  return JSON.stringify({
    type: problem.type,
    title: problem.title,
    detail: detail ?? problem.detail,
    instance: `urn:firkin:request:${requestId}`,
  });
}
