/**
 * One request as every layer above the transport sees it: built once by the
 * transport (src/transport/exchange.ts) with a fixed shape, and never changed
 * afterwards. The access rules, the API and the service endpoints read it and
 * return their decisions and answers; none of them touches the socket.
 */
import type { IncomingHttpHeaders } from 'node:http';

/**
 * What the TLS handshake proved about the client: fixed for the connection (renegotiation
 * is off), read by the transport from the connection's first request on, and checked again
 * (dates, revocation) at every request.
 */
export interface Peer {
  /** The client presented a certificate that the configured CA signed (mutual TLS). */
  readonly verified: boolean;
  /** That certificate's typed identities (`cn:…`, `dns:…`, `uri:…`, see base/identity.ts), in its order; empty unless verified. */
  readonly identities: readonly string[];
  /**
   * That certificate's SHA-256 fingerprint (64 lower-case hex digits): the certificate itself,
   * which no other certificate shares, where identities may be shared by a look-alike. Undefined unless verified.
   */
  readonly fingerprint: string | undefined;
  /** Its validity (notBefore, notAfter) in milliseconds since the epoch; undefined unless verified. */
  readonly validFrom: number | undefined;
  readonly validTo: number | undefined;
}

/** A connection without a verified client certificate. */
export const ANONYMOUS: Peer = Object.freeze({
  verified: false,
  identities: Object.freeze([]) as readonly string[],
  fingerprint: undefined,
  validFrom: undefined,
  validTo: undefined,
});

/**
 * A request body read into memory, or why not: over the limit (`too-large`), the client went
 * away (`aborted`), it stopped arriving at the minimum rate (`too-slow`), or the process has
 * no room for it or for the work it asks (`overloaded`: max_in_flight, or the bytes of bodies
 * being received).
 */
export type BodyResult =
  | { readonly ok: true; readonly body: Buffer }
  | { readonly ok: false; readonly reason: 'too-large' | 'aborted' | 'too-slow' | 'overloaded' };

export interface RequestContext {
  readonly method: string;
  /**
   * The request target in origin form (path and query): as sent, or the path and query of
   * an absolute-form target (`http://host/path?q`, RFC 9112 §3.2.2).
   */
  readonly url: string;
  /** The target's path: `url` without its query. */
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  /** The client's X-Request-ID when it is safe to echo, else a new one (every answer carries it). */
  readonly requestId: string;
  readonly remoteAddress: string | undefined;
  readonly peer: Peer;
  /**
   * Read the body into memory, never past `limit` bytes (a declared larger Content-Length
   * reads nothing). While it arrives the request holds no in-flight slot; it takes one again
   * once the body is in, so a handler reads the body before any storage call.
   */
  readBody(limit: number): Promise<BodyResult>;
  /** `Expect: 100-continue`: invite the body, once the request is known to be acceptable. */
  inviteBody(): void;
}

/** What the whole process shares about its own state. */
export interface ServiceState {
  /** Set once the service drains before exit: /readyz says 503 and every answer closes its connection. */
  draining: boolean;
}
