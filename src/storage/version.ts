import { createHash, createHmac, hash, randomFillSync } from 'node:crypto';
import type { Condition } from './engine.js';

/**
 * Versions (the ETags clients see) reveal nothing about a value to someone who cannot
 * read it. On Cassandra a version is keyed: the first 128 bits of SHA-256 over a secret
 * derived from the table's own id (which every node, data centre and Firkin instance
 * shares, and no HTTP client can read), then the key (length-prefixed) and the value's
 * bytes. (Secret-prefixed and truncated: a SHA-256 state cannot be extended from 128
 * of its 256 bits, so this is a PRF as HMAC is, at one hash call instead of HMAC's
 * object and two hashes: 2.9 µs instead of 4.4 for a 1 KiB value, issue 24.) So
 * it is the same wherever and whenever it is computed (If-Match works across restarts,
 * instances and data centres, also for values Kask wrote), yet tells nothing of the
 * bytes: with the key in it, a client that writes a guess under a key of its own learns
 * nothing about another key's value. (The embedded engine stores a random version with
 * each value instead.)
 */

const DERIVATION = 'firkin version key v1';

/** The secret of a table's versions, from its id (system_schema.tables.id). */
export function versionSecret(tableId: Uint8Array): Buffer {
  return createHmac('sha256', DERIVATION).update(tableId).digest();
}

/** Values up to this size are hashed in one call over a copy; larger ones streamed. */
const COPY_UP_TO = 64 * 1024;

/** The version of `value` stored under `key`, base64url. */
export function keyedVersion(secret: Buffer, key: string, value: Uint8Array): string {
  const keyLength = Buffer.byteLength(key, 'utf8');
  if (value.length > COPY_UP_TO) {
    // The same digest, streamed: no copy of a large value.
    const length = Buffer.allocUnsafe(4);
    length.writeUInt32BE(keyLength);
    return createHash('sha256').update(secret).update(length).update(key, 'utf8').update(value).digest().toString('base64url', 0, 16);
  }
  // Hashed from one scratch buffer (synchronous: nothing interleaves), not a new copy per
  // version: a GET's or POST's largest allocation after the value itself (issue 24).
  const at = secret.length + 4;
  const length = at + keyLength + value.length;
  if (SCRATCH.length < length) SCRATCH = Buffer.allocUnsafe(Math.max(length, 2 * SCRATCH.length));
  const input = SCRATCH;
  secret.copy(input, 0);
  input.writeUInt32BE(keyLength, secret.length);
  input.write(key, at, 'utf8');
  input.set(value, at + keyLength);
  // The digest as a `binary` (latin1) string (one character a byte), not as a Buffer, which node:crypto
  // would make in C++ (a new ArrayBuffer, its prototype set: most of the call's cost).
  DIGEST.write(hash('sha256', input.subarray(0, length), 'binary'), 0, 16, 'latin1');
  input.fill(0, at, length); // the key and value do not linger in it
  return DIGEST.toString('base64url', 0, 16);
}

/** keyedVersion's input, reused; it grows by doubling, to at most twice COPY_UP_TO with the secret and the longest key. */
let SCRATCH = Buffer.allocUnsafe(4096);

/** keyedVersion's first 16 bytes of a digest, between the hash and the encoding (synchronous: nothing interleaves). */
const DIGEST = Buffer.alloc(16);

/** Random bytes drawn 4 KiB at a time: a version costs a copy, not a system call. */
const POOL = Buffer.alloc(4096);
let used = POOL.length;

/** A random version (128 bits, base64url): what the embedded engine stores with each value it writes. */
export function randomVersion(): string {
  if (used + 16 > POOL.length) {
    randomFillSync(POOL);
    used = 0;
  }
  used += 16;
  return POOL.toString('base64url', used - 16, used);
}

/** Whether a write's condition holds for the current live version (undefined: no live value). */
export function conditionHolds(condition: Condition | undefined, currentVersion: string | undefined): boolean {
  if (condition === undefined) return true;
  switch (condition.kind) {
    case 'absent':
      return currentVersion === undefined;
    case 'present':
      return currentVersion !== undefined;
    case 'version':
      return currentVersion !== undefined && condition.versions.includes(currentVersion);
  }
}
