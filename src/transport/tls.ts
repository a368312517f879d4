/**
 * Server TLS: Kask's tls.cert / tls.key, and with tls.ca mutual TLS, where a
 * client certificate must be signed by that CA, be within its dates and not be
 * listed in tls.revoked, at every request (ClientCertificates).
 *
 * Cipher policy (docs/security.md): TLS 1.2 and 1.3 only; on TLS 1.2, only
 * ECDHE key exchange with AEAD ciphers (AES-GCM, ChaCha20-Poly1305), in the
 * server's order of preference; TLS 1.3 suites as OpenSSL offers them.
 */
import type { Server as HttpsServer } from 'node:https';
import { constants } from 'node:crypto';
import type { PeerCertificate, SecureContextOptions, TLSSocket } from 'node:tls';
import { typedIdentity } from '../base/identity.js';
import { ANONYMOUS, type Peer } from '../base/request.js';
import type { FirkinConfig } from '../config/types.js';
import { readServerTls } from '../config/tls-files.js';

export const CIPHERS = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

type TlsConfig = NonNullable<FirkinConfig['tls']>;
type TlsFiles = ReturnType<typeof readServerTls>;

/**
 * The secure context's options, from the certificate, key and CA read from disk (at
 * start-up and on SIGHUP: readServerTls, which checks them as check-config does and
 * reads tls.revoked with them, so that a reload applies all of them or none).
 */
export function secureContextOptions(files: TlsFiles): SecureContextOptions {
  const { cert, key, ca } = files;
  return {
    cert,
    key,
    ...(ca !== undefined ? { ca } : {}),
    minVersion: 'TLSv1.2',
    ciphers: CIPHERS,
    honorCipherOrder: true,
    // No TLS 1.2 renegotiation: a client could otherwise present another certificate mid-connection.
    secureOptions: constants.SSL_OP_NO_RENEGOTIATION,
  };
}

/** Options for https.createServer: with a CA, ask every client for a certificate. */
export function serverTlsOptions(tls: TlsConfig, files: TlsFiles): SecureContextOptions & { requestCert: boolean; rejectUnauthorized: boolean } {
  return {
    ...secureContextOptions(files),
    // The handshake itself cannot tell "no certificate" (401, so the client learns why)
    // from "a certificate from elsewhere" (refused): ClientCertificates makes that cut.
    requestCert: tls.ca !== undefined,
    rejectUnauthorized: false,
  };
}

/**
 * Told of each connection refused for its client certificate: its address, why
 * (CERT_HAS_EXPIRED, CERT_REVOKED…), the first identity the certificate claims, and
 * whether the connection resumed a TLS session (no certificate verification took place).
 */
export type OnCertificateRefused = (address: string | undefined, cause: string, claimed: string | undefined, resumed: boolean) => void;

/** A certificate presented but not verified at the handshake: why, and what it claims. */
interface Unverified {
  readonly cause: string;
  readonly claimed: string | undefined;
}

/**
 * With mutual TLS: what each connection's client certificate proves, and whether it may
 * still be used. A TLS handshake verifies a certificate once (its chain and dates, against
 * tls.ca); a resumed session skips that (it carries the verdict of the handshake it
 * resumes), and a keep-alive connection outlives its handshake. So the verdict is read
 * off the socket (authorized, getPeerCertificate) at the handshake and at the connection's
 * first request, kept, and the certificate checked again at every request: its dates
 * against now, and its fingerprint against tls.revoked. A connection that fails gets one
 * refusal (logged, with its address) and is closed, before any request of it is routed.
 */
export class ClientCertificates {
  private readonly peers = new WeakMap<TLSSocket, Peer | Unverified>();
  private readonly refused = new WeakSet<TLSSocket>();

  constructor(
    private revoked: ReadonlySet<string>,
    private readonly onRefused: OnCertificateRefused,
    private readonly now: () => number = Date.now,
  ) {}

  /** The fingerprints of revoked certificates (tls.revoked, re-read on SIGHUP): from the next request on. */
  setRevoked(revoked: ReadonlySet<string>): void {
    this.revoked = revoked;
  }

  /**
   * Check every connection once its handshake is done (fresh or resumed), so that one
   * refused is closed at once even if it sends nothing. node:https's own listener (the
   * HTTP parser) runs before this one and may already have handed over a request that
   * came in the handshake's last flight (TLS 1.3): admit() refuses that one the same way.
   */
  watch(server: HttpsServer): void {
    server.on('secureConnection', (socket: TLSSocket) => void this.admit(socket));
  }

  /**
   * What the connection's certificate proves, if it may be used now: ANONYMOUS without a
   * certificate, a verified Peer, or undefined if the connection is refused (logged once,
   * and destroyed; its requests must not be routed).
   */
  admit(socket: TLSSocket): Peer | undefined {
    if (this.refused.has(socket)) return undefined;
    let entry = this.peers.get(socket);
    if (entry === undefined) {
      entry = readPeer(socket);
      this.peers.set(socket, entry);
    }
    const cause = 'cause' in entry ? entry.cause : this.problem(entry);
    if (cause === undefined) return entry as Peer;
    this.refused.add(socket);
    const claimed = 'cause' in entry ? entry.claimed : entry.identities[0];
    this.onRefused(socket.remoteAddress, cause, claimed, socket.isSessionReused());
    socket.destroy();
    return undefined;
  }

  /** Why a verified certificate may not be used now (OpenSSL's names for the same causes), if it may not. */
  private problem(peer: Peer): string | undefined {
    if (!peer.verified) return undefined;
    const now = this.now();
    // Written so that a date that could not be read (NaN) refuses too.
    if (!(now >= peer.validFrom!)) return 'CERT_NOT_YET_VALID';
    if (!(now <= peer.validTo!)) return 'CERT_HAS_EXPIRED';
    if (this.revoked.has(peer.fingerprint!)) return 'CERT_REVOKED';
    return undefined;
  }
}

/** What the handshake (or the session it resumed) says of the client's certificate. */
function readPeer(socket: TLSSocket): Peer | Unverified {
  const cert = peerCertificate(socket);
  if (cert === undefined) return ANONYMOUS; // no certificate: the request gets its 401
  if (!socket.authorized) return { cause: String(socket.authorizationError ?? 'unverified'), claimed: identitiesOf(cert)[0] };
  return Object.freeze({
    verified: true,
    identities: Object.freeze(identitiesOf(cert)),
    fingerprint: cert.fingerprint256.replace(/:/g, '').toLowerCase(),
    validFrom: Date.parse(cert.valid_from),
    validTo: Date.parse(cert.valid_to),
  });
}

function peerCertificate(socket: TLSSocket): PeerCertificate | undefined {
  const cert = socket.getPeerCertificate();
  return cert !== null && Object.keys(cert).length > 0 ? cert : undefined;
}

/**
 * A certificate's typed identities: its subject CN(s) as `cn:…`, then its SAN DNS
 * names as `dns:…` and SAN URIs as `uri:…`. A CN that looks like a URI is still a
 * CN: `CN=spiffe://x` is `cn:spiffe://x`, never `uri:spiffe://x`.
 */
export function identitiesOf(cert: PeerCertificate): string[] {
  const ids: string[] = [];
  const cn = cert.subject?.CN;
  for (const value of typeof cn === 'string' ? [cn] : Array.isArray(cn) ? (cn as string[]) : []) ids.push(typedIdentity('cn', value));
  for (const name of altNames(cert.subjectaltname ?? '')) {
    if (name.startsWith('DNS:')) ids.push(typedIdentity('dns', name.slice(4)));
    else if (name.startsWith('URI:')) ids.push(typedIdentity('uri', name.slice(4)));
  }
  return ids;
}

const JSON_STRING = /^"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/;

/**
 * Node's `subjectaltname` as its entries (`DNS:a`, `URI:b`, …). Node separates them
 * with ", " and writes a value holding a comma, quote or control character as a JSON
 * string, so a crafted SAN cannot pose as two (this is how node:tls splits it too).
 * An entry that cannot be read makes the whole list unreadable: no SAN identity then.
 */
function altNames(text: string): string[] {
  if (text === '') return [];
  const names: string[] = [];
  let current = '';
  let offset = 0;
  while (offset < text.length) {
    const comma = text.indexOf(',', offset);
    const quote = text.indexOf('"', offset);
    if (quote !== -1 && (comma === -1 || quote < comma)) {
      const m = JSON_STRING.exec(text.slice(quote));
      if (m === null) return [];
      current += text.slice(offset, quote) + (JSON.parse(m[0]) as string);
      offset = quote + m[0].length;
    } else if (comma !== -1) {
      names.push(current + text.slice(offset, comma));
      current = '';
      offset = comma + 2;
    } else {
      current += text.slice(offset);
      offset = text.length;
    }
  }
  names.push(current);
  return names;
}
