/**
 * The log of refused clients, at info: every authentication or authorisation
 * refusal (`authentication failed`: 401, 403), throttled requests
 * (`authentication throttled`: 429) and TLS handshakes refused for a client
 * certificate (`TLS client certificate refused`). Each line names the client (a
 * certificate's typed identity, or a token's configured *name*, never the token),
 * its address, what it was refused and the request ID; never a session key.
 *
 * A hostile client must not flood the log: lines are limited per cause (status and
 * namespace, operation or endpoint; or the TLS cause), REFUSAL_LINES_PER_SECOND
 * a second (throttled requests: one), and the first line after a pause carries
 * `suppressed`, the refusals of that cause not logged since. Every refusal is
 * still counted in the metrics. The causes come from the config and fixed lists
 * (operations, guarded endpoints, OpenSSL's error codes), never from what a client
 * writes, so the limiter's memory is bounded.
 */
import type { RequestContext } from '../base/request.js';
import { LogEvery } from '../log/log-every.js';
import type { Logger } from '../log/logger.js';

/** What a refused request's line says of the request. */
type Request = Pick<RequestContext, 'requestId' | 'remoteAddress'>;

/** Lines a second per cause of refusal (per process: each worker has its own). */
export const REFUSAL_LINES_PER_SECOND = 10;

/** What a request was refused: an operation in a namespace, or a service endpoint (its path). */
export type Refused = { readonly namespace: string; readonly operation: string } | { readonly endpoint: string };

/** Who was refused, as far as the request says: a verified certificate's identity, a token's name ('unknown' if configured nowhere). */
export interface Client {
  readonly identity?: string | undefined;
  readonly token?: string | undefined;
}

/** An identity read from a certificate nobody vouched for is shown up to this many characters. */
const MAX_UNVERIFIED_IDENTITY = 256;

/** tlsClientError codes about a certificate (OpenSSL's reasons: a bad certificate, its signature); the rest is noise. */
const CERTIFICATE_ERROR = /CERT|SIGNATURE/i;
/** An alert the client sent (…_ALERT_BAD_CERTIFICATE): the client refused ours, not we its. */
const ALERT_RECEIVED = /ALERT/i;

/** True if a failed TLS handshake (tlsClientError's code) was refused for the client's certificate. */
export function isCertificateError(code: string | undefined): boolean {
  return code !== undefined && CERTIFICATE_ERROR.test(code) && !ALERT_RECEIVED.test(code);
}

const placeOf = (where: Refused): string => ('endpoint' in where ? where.endpoint : `${where.namespace}\0${where.operation}`);

export class RefusalLog {
  private readonly failures = new LogEvery(1000, REFUSAL_LINES_PER_SECOND);
  private readonly throttles = new LogEvery(1000, 1);
  private readonly handshakes = new LogEvery(1000, REFUSAL_LINES_PER_SECOND);
  private readonly connections = new LogEvery(1000, 1);

  constructor(private readonly logger: Logger) {}

  /** A refused request (401, 403; or 200 for a token valid nowhere sent to /healthz). */
  failed(x: Request, where: Refused, status: number, client: Client): void {
    const due = this.due(this.failures, `${status}\0${placeOf(where)}`);
    if (due === undefined) return;
    this.logger.info({ ...requestFields(x, client), ...where, status, ...due }, 'authentication failed');
  }

  /** A request refused (429) before its credentials were read: its source failed too often. */
  throttled(x: Request, where: Refused, client: Client, retryAfterSeconds: number): void {
    const due = this.due(this.throttles, placeOf(where));
    if (due === undefined) return;
    this.logger.info({ ...requestFields(x, client), ...where, retry_after_seconds: retryAfterSeconds, ...due }, 'authentication throttled');
  }

  /**
   * A TLS connection dropped for its client certificate, at its handshake or at a request:
   * `cause` is the verification error (UNABLE_TO_VERIFY_LEAF_SIGNATURE, CERT_HAS_EXPIRED,
   * CERT_REVOKED…) or the handshake's error code; `claimed`, the first identity the
   * certificate names (unverified, or no longer good); `resumed`, the connection resumed a
   * TLS session (no certificate was verified at its handshake).
   */
  certificateRefused(address: string | undefined, cause: string, claimed: string | undefined, resumed: boolean): void {
    const due = this.due(this.handshakes, cause);
    if (due === undefined) return;
    const identity = claimed !== undefined && claimed.length > MAX_UNVERIFIED_IDENTITY ? `${claimed.slice(0, MAX_UNVERIFIED_IDENTITY)}…` : claimed;
    this.logger.info({ address, identity, verified: false, cause, ...(resumed ? { resumed } : {}), ...due }, 'TLS client certificate refused');
  }

  /**
   * A connection closed as it was accepted: its source (an address, an IPv6 /64) already
   * holds max_connections_per_source. One line a second at most, whatever the sources.
   */
  connectionRefused(source: string): void {
    const due = this.due(this.connections, 'per-source');
    if (due === undefined) return;
    this.logger.info({ source, ...due }, 'connection refused: too many from its source');
  }

  /** Any other failed handshake (plain HTTP on the TLS port, an old protocol, a timeout): debug only. */
  handshakeFailed(address: string | undefined, cause: string): void {
    if (!this.logger.isLevelEnabled('debug')) return;
    const due = this.due(this.handshakes, cause);
    if (due === undefined) return;
    this.logger.debug({ address, cause, ...due }, 'TLS handshake failed');
  }

  /** undefined: no line now; else the line's `suppressed` field: the occurrences of `cause` not logged since its last line, if any. */
  private due(every: LogEvery, cause: string): { suppressed?: number } | undefined {
    const count = every.due(cause);
    if (count === undefined) return undefined;
    return count > 1 ? { suppressed: count - 1 } : {};
  }
}

/** The fields every refused request's line carries. */
function requestFields(x: Request, client: Client): Record<string, unknown> {
  return { request_id: x.requestId, address: x.remoteAddress, identity: client.identity, token: client.token };
}
