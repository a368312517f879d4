/**
 * Server TLS: Kask's tls.cert / tls.key, and with tls.ca mutual TLS, where a
 * client certificate must be signed by that CA.
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

/**
 * The certificate, key and CA read from disk now (at start-up and on SIGHUP), checked as
 * check-config checks them: a TlsFileError names the key and the file that cannot be used.
 */
export function secureContextOptions(tls: TlsConfig): SecureContextOptions {
  const { cert, key, ca } = readServerTls(tls);
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
export function serverTlsOptions(tls: TlsConfig): SecureContextOptions & { requestCert: boolean; rejectUnauthorized: boolean } {
  return {
    ...secureContextOptions(tls),
    // The handshake itself cannot tell "no certificate" (401, so the client learns why)
    // from "a certificate from elsewhere" (refused): the check below makes that cut.
    requestCert: tls.ca !== undefined,
    rejectUnauthorized: false,
  };
}

/** Told of each connection dropped for its certificate: its address, why (CERT_HAS_EXPIRED…) and the first identity it claims. */
export type OnCertificateRefused = (address: string | undefined, cause: string, claimed: string | undefined) => void;

/**
 * With mutual TLS, drop a connection whose client certificate the CA did not sign,
 * before any HTTP (and tell `onRefused`); keep the identities of a verified one, read
 * once at the handshake (renegotiation is off, so the certificate cannot change afterwards).
 */
export function refuseForeignCertificates(server: HttpsServer, onRefused: OnCertificateRefused): void {
  server.on('secureConnection', (socket: TLSSocket) => {
    if (!socket.authorized) {
      const cert = peerCertificate(socket);
      if (cert === undefined) return; // no certificate: the request gets its 401
      onRefused(socket.remoteAddress, String(socket.authorizationError ?? 'unverified'), identitiesOf(cert)[0]); // while its address is known
      socket.destroy();
      return;
    }
    peers.set(socket, Object.freeze({ verified: true, identities: Object.freeze(identitiesOf(socket.getPeerCertificate())) }));
  });
}

function peerCertificate(socket: TLSSocket): PeerCertificate | undefined {
  const cert = socket.getPeerCertificate();
  return cert !== null && Object.keys(cert).length > 0 ? cert : undefined;
}

/** What each verified connection proved, recorded at its handshake. */
const peers = new WeakMap<object, Peer>();

/**
 * What the TLS handshake of this connection proved: a verified client certificate's
 * typed identities (see identitiesOf), as recorded at the handshake; ANONYMOUS without
 * mutual TLS, without a certificate, or if it was not verified.
 */
export function peerOf(socket: object): Peer {
  return peers.get(socket) ?? ANONYMOUS;
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
