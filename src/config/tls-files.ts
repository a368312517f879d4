/**
 * The TLS files a config names, read and checked the one way the service uses
 * them: the server's certificate, key and CA (at start-up and on SIGHUP) and the
 * Cassandra driver's CA, client certificate and key all come from here, and
 * `firkin check-config` calls the same functions, so a file it accepts is one
 * `firkin serve` can use.
 *
 * Checked: each file is readable, the certificate is a PEM certificate, the key a
 * PEM private key without a passphrase, the key belongs to the certificate, and
 * every certificate of a CA file parses (Node would silently ignore a CA file
 * of garbage, and every client certificate would then be refused).
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import { ConfigError } from '../base/config-error.js';
import type { CassandraConfig, FirkinConfig } from './types.js';

/** A TLS file that cannot be used: `key` is the config key naming it, `path` the file. */
export class TlsFileError extends Error {
  constructor(
    readonly key: string,
    readonly path: string,
    readonly problem: string,
  ) {
    super(`${key} (${path}): ${problem}`);
    this.name = 'TlsFileError';
  }

  /** The same problem as a config error of `configFile`: one line naming the config file, the key and the TLS file. */
  inConfig(configFile: string | undefined): ConfigError {
    return new ConfigError(configFile, this.key, this.problem, this.path);
  }
}

export interface TlsMaterial {
  readonly cert: Buffer;
  readonly key: Buffer;
}

/** The server's tls.cert, tls.key and (mutual TLS) tls.ca and tls.revoked, checked. */
export function readServerTls(
  tls: NonNullable<FirkinConfig['tls']>,
): TlsMaterial & { readonly ca: Buffer | undefined; readonly revoked: ReadonlySet<string> } {
  return {
    ...readPair({ key: 'tls.cert', path: tls.cert }, { key: 'tls.key', path: tls.key }),
    ca: tls.ca === undefined ? undefined : readCa('tls.ca', tls.ca),
    revoked: tls.revoked === undefined ? new Set() : readRevoked('tls.revoked', tls.revoked),
  };
}

/** A SHA-256 fingerprint as openssl prints it (`AB:CD:…`) or as plain hex. */
const FINGERPRINT = /^(?:[0-9a-f]{64}|[0-9a-f]{2}(?::[0-9a-f]{2}){31})$/i;

/**
 * tls.revoked: the SHA-256 fingerprints of revoked client certificates, one a line, as
 * `openssl x509 -noout -fingerprint -sha256` prints them (the `sha256 Fingerprint=` prefix
 * may stay) or as 64 hex digits; `#` starts a comment; blank lines and an empty file are
 * fine. Returned as lower-case hex without colons (Peer.fingerprint's form).
 */
export function readRevoked(key: string, path: string): ReadonlySet<string> {
  let text: string;
  try {
    text = readFileSync(path, 'latin1');
  } catch (err) {
    throw new TlsFileError(key, path, `cannot read the file (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const revoked = new Set<string>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/#.*/, '').replace(/^\s*sha256 fingerprint\s*=/i, '').trim();
    if (line === '') return;
    if (!FINGERPRINT.test(line)) {
      throw new TlsFileError(key, path, `line ${i + 1} is not a SHA-256 certificate fingerprint (64 hex digits, with or without colons)`);
    }
    revoked.add(line.replace(/:/g, '').toLowerCase());
  });
  return revoked;
}

/** cassandra.tls.ca and, if set, the client certificate and key, checked. */
export function readCassandraTls(tls: NonNullable<CassandraConfig['tls']>): Partial<TlsMaterial> & { readonly ca: Buffer } {
  const ca = readCa('cassandra.tls.ca', tls.ca);
  if (tls.cert === undefined || tls.key === undefined) return { ca };
  return { ca, ...readPair({ key: 'cassandra.tls.cert', path: tls.cert }, { key: 'cassandra.tls.key', path: tls.key }) };
}

/** Every TLS file of the config, as `serve` would load it; a ConfigError names the first that cannot be used. */
export function checkTlsFiles(config: Pick<FirkinConfig, 'file' | 'tls' | 'cassandra'>): void {
  try {
    if (config.tls !== undefined) readServerTls(config.tls);
    if (config.cassandra?.tls !== undefined) readCassandraTls(config.cassandra.tls);
  } catch (err) {
    throw err instanceof TlsFileError ? err.inConfig(config.file) : err;
  }
}

interface Named {
  readonly key: string;
  readonly path: string;
}

function readPair(certFile: Named, keyFile: Named): TlsMaterial {
  const cert = read(certFile);
  const key = read(keyFile);
  const certificate = parseCertificate(certFile, cert);
  const privateKey = parsePrivateKey(keyFile, key);
  if (!certificate.checkPrivateKey(privateKey)) throw new TlsFileError(keyFile.key, keyFile.path, `does not match ${certFile.key}`);
  // Anything else OpenSSL refuses (a key too weak for its security level, say) shows here, as it would at start-up.
  try {
    createSecureContext({ cert, key } satisfies SecureContextOptions);
  } catch (err) {
    throw new TlsFileError(certFile.key, certFile.path, `cannot be used with ${keyFile.key}: ${opensslReason(err)}`);
  }
  return { cert, key };
}

function readCa(key: string, path: string): Buffer {
  const ca = read({ key, path });
  const blocks = ca.toString('latin1').match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) throw new TlsFileError(key, path, 'holds no PEM certificate (-----BEGIN CERTIFICATE-----)');
  blocks.forEach((block, i) => {
    try {
      new X509Certificate(block);
    } catch (err) {
      throw new TlsFileError(key, path, `certificate ${i + 1} of ${blocks.length} does not parse (${opensslReason(err)})`);
    }
  });
  return ca;
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

function read({ key, path }: Named): Buffer {
  let data: Buffer;
  try {
    data = readFileSync(path);
  } catch (err) {
    throw new TlsFileError(key, path, `cannot read the file (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (data.length === 0) throw new TlsFileError(key, path, 'is empty');
  return data;
}

function parseCertificate({ key, path }: Named, pem: Buffer): X509Certificate {
  // Node's TLS takes PEM only; X509Certificate would also read DER.
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new TlsFileError(key, path, 'is not a PEM certificate (-----BEGIN CERTIFICATE-----)');
  try {
    return new X509Certificate(pem);
  } catch (err) {
    throw new TlsFileError(key, path, `is not a valid PEM certificate (${opensslReason(err)})`);
  }
}

function parsePrivateKey({ key, path }: Named, pem: Buffer): KeyObject {
  // Firkin has no passphrase to give; OpenSSL's own word for this is "interrupted or cancelled".
  if (ENCRYPTED_KEY.test(pem.toString('latin1'))) throw new TlsFileError(key, path, 'is encrypted with a passphrase; Firkin needs an unencrypted key');
  try {
    return createPrivateKey(pem);
  } catch (err) {
    throw new TlsFileError(key, path, `is not a PEM private key (${opensslReason(err)})`);
  }
}

/** PKCS#8 encrypted, or a traditional PEM key with a passphrase. */
const ENCRYPTED_KEY = /-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: *4,ENCRYPTED/;

/** OpenSSL's reason without its codes: `error:0480006C:PEM routines::no start line` is `no start line`. */
function opensslReason(err: unknown): string {
  const message = (err as Error).message ?? String(err);
  return message.replace(/^error:[0-9A-F]+:[^:]*:[^:]*:/i, '');
}
