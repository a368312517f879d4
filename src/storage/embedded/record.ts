/**
 * The embedded engine's record of one value, and its checksum.
 *
 * Format 2 (the format marker in the `meta` database, lmdb-engine.ts) stores under each
 * key the MessagePack array `[expiresAtMs, version, value, crc]`, where `crc` is the
 * CRC-32 (zlib's, node:zlib crc32) of the key, the expiry, the version and the value,
 * each length-prefixed. Every read verifies it: a record whose bytes changed on disk
 * after it was written (a flipped bit, a torn or misdirected write, a damaged page that
 * still decodes) no longer matches, and is never served. CRC-32 detects every flipped
 * bit and every pair of flipped bits in a record of any size Firkin stores, every burst
 * of up to 32 bits (a damaged byte range of up to 4 bytes), and other damage but once
 * in 2^32. It is a defence against damage, not against someone who can write the file
 * (they can recompute it).
 *
 * Format 1 (Firkin before the checksum) stored `[expiresAtMs, version, value]`. A store
 * upgraded from it keeps a `legacy` mark until every such record has been rewritten with
 * its checksum (lmdb-engine.ts); until then a well-formed 3-element record is accepted,
 * unverified. Once the mark is gone, a 3-element record is damage like any other.
 */
import { crc32 } from 'node:zlib';

/** A record as format 2 writes it: [expiresAtMs (0: never), version, value, crc]. */
export type StoredRecord = [number, string, Buffer, number];
/** A record as format 1 wrote it: [expiresAtMs (0: never), version, value]. */
export type LegacyRecord = [number, string, Buffer];

/** A record that does not decode, is not of a shape this engine writes, or whose checksum does not match. */
export const DAMAGED = Symbol('damaged');

/** Why a record is damaged, in words for the log (never its key or bytes). */
export type Damage = 'undecodable' | 'shape' | 'checksum';

/** The result of checking a record read back: the record, or the damage found. */
export type Checked = { readonly record: StoredRecord; readonly legacy: boolean } | { readonly damage: Damage };

/** Scratch space for everything but the value: keys are at most 1900 bytes on this engine, versions 22. */
const SCRATCH = Buffer.alloc(4096);

/**
 * The checksum of a record: CRC-32 of [key length u32][version length u32][expiresAt f64]
 * key version value (two calls into zlib: each costs about 0.1 µs beyond its bytes).
 */
export function checksum(key: string, expiresAt: number, version: string, value: Uint8Array): number {
  const keyBytes = Buffer.byteLength(key);
  const versionBytes = Buffer.byteLength(version);
  const length = 16 + keyBytes + versionBytes;
  const head = length <= SCRATCH.length ? SCRATCH : Buffer.alloc(length);
  head.writeUInt32BE(keyBytes, 0);
  head.writeUInt32BE(versionBytes, 4);
  head.writeDoubleBE(expiresAt, 8);
  head.write(key, 16, 'utf8');
  head.write(version, 16 + keyBytes, 'utf8');
  return crc32(value, crc32(head.subarray(0, length)));
}

/** The record to store for `value` under `key`. */
export function seal(key: string, expiresAt: number, version: string, value: Buffer): StoredRecord {
  return [expiresAt, version, value, checksum(key, expiresAt, version, value)];
}

/**
 * Check what was read under `key` (already decoded, and not undefined). `legacyAllowed`:
 * the store may still hold format-1 records (its `legacy` mark is set).
 */
export function check(key: string, read: unknown, legacyAllowed: boolean): Checked {
  if (!Array.isArray(read)) return { damage: 'shape' };
  const [expiresAt, version, value, crc] = read as unknown[];
  if (typeof expiresAt !== 'number' || typeof version !== 'string' || !Buffer.isBuffer(value)) return { damage: 'shape' };
  if (read.length === 3 && legacyAllowed) {
    // Unverified: format 1 had no checksum. Returned with one, as it will be stored.
    return { record: seal(key, expiresAt, version, value), legacy: true };
  }
  if (read.length !== 4 || typeof crc !== 'number') return { damage: 'shape' };
  if (checksum(key, expiresAt, version, value) !== crc) return { damage: 'checksum' };
  return { record: read as StoredRecord, legacy: false };
}
