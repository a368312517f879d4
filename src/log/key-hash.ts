/**
 * Short keyed hashes of session keys, for correlating log lines and /admin/top-keys
 * without revealing a key. The namespace is hashed too, so the same key in two
 * namespaces (two values) has two hashes. The secret is random per process (its
 * workers share the primary's), so a hash cannot be brute-forced back to a key from
 * the logs alone.
 */
import { hash, randomBytes } from 'node:crypto';

/** Environment variable carrying the secret from the primary to its workers (cluster.ts). */
export const KEY_HASH_SECRET_ENV = 'FIRKIN_KEY_HASH_SECRET';

export class KeyHasher {
  /** The secret, as the prefix of every hashed string. */
  private readonly prefix: string;

  constructor(secret: Buffer = randomBytes(32)) {
    this.prefix = secret.toString('hex');
  }

  /**
   * 12 base64url characters: the first 72 bits of SHA-256 over the secret, the namespace
   * and the key. Secret-prefixed and truncated (a SHA-256 state cannot be extended from
   * 72 of its bits), one hash per call: a fifth of what an HMAC object costs on every
   * write (write-insight.ts), issue 24.
   */
  hash(namespace: string, key: string): string {
    return hash('sha256', `${this.prefix}${namespace}\u0000${key}`, 'base64url').slice(0, 12);
  }
}

/**
 * In a worker: the primary's secret, taken out of the environment (so that nothing
 * the worker starts inherits it). Called once at start-up by the service's assembly.
 */
export function takeSharedKeyHashSecret(env: NodeJS.ProcessEnv = process.env): Buffer | undefined {
  const hex = env[KEY_HASH_SECRET_ENV];
  delete env[KEY_HASH_SECRET_ENV];
  return hex !== undefined && /^[0-9a-f]{64}$/.test(hex) ? Buffer.from(hex, 'hex') : undefined;
}
