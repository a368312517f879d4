/**
 * Sealing, for sealed namespaces (docs/security.md, "Sealed namespaces"): what
 * reaches storage is a keyed hash of the client's key, and the value encrypted and
 * authenticated, so that a stolen disk, backup or table dump yields neither.
 *
 * Keys. Each keyring key (32 random bytes) gives each namespace two keys of its own
 * (HKDF-SHA-256, the namespace in `info`): one for storage keys, one for values. A
 * namespace that leaks one of them leaks nothing of another namespace.
 *
 * Storage key: `s1:<key id>:<43 base64url characters>`, the HMAC-SHA-256 of the
 * client's key under the namespace's storage-key key. The key id in it lets
 * `firkin keys status` count records per key without reading a value.
 *
 * Record: a small header, then the value sealed with AES-256-GCM:
 *
 *   byte 0        format, 1
 *   byte 1        L, the key id's length (1–32)
 *   bytes 2…      the key id (L bytes, ASCII)
 *   16 bytes      salt, random per record
 *   …             ciphertext, then the 16-byte GCM tag
 *
 * The record's own key is HMAC-SHA-256(value key, salt): a fresh key for every record,
 * so the fixed all-zero GCM nonce is never reused under a key, at any write rate (a
 * salt repeats after about 2^64 records). The associated data binds the record to its
 * namespace, its storage key and its key id (and the whole header): a record copied to
 * another key, another namespace, or passed off as another key id's fails to open.
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomFillSync } from 'node:crypto';

const FORMAT = 1;
const SALT_BYTES = 16;
const TAG_BYTES = 16;
const NONCE = Buffer.alloc(12);
const DERIVATION_SALT = Buffer.from('firkin sealed namespaces v1');
const AAD_PREFIX = 'firkin sealed record v1';

/** The prefix of every sealed storage key: a plain key in `migrate` mode never takes this shape. */
export const STORAGE_KEY_PREFIX = 's1:';

/** Why a record did not open (a metric label; never anything of the record itself). */
export type OpenFailure = 'format' | 'unknown-key' | 'authentication';

export type Opened = { readonly ok: true; readonly value: Buffer; readonly keyId: string } | { readonly ok: false; readonly reason: OpenFailure };

/** One keyring key's two keys for one namespace. */
export class NamespaceKey {
  private readonly lookup: Buffer;
  private readonly values: Buffer;
  private readonly header: Buffer;

  constructor(
    readonly id: string,
    secret: Buffer,
    readonly namespace: string,
  ) {
    this.lookup = Buffer.from(hkdfSync('sha256', secret, DERIVATION_SALT, `storage key\0${namespace}`, 32));
    this.values = Buffer.from(hkdfSync('sha256', secret, DERIVATION_SALT, `value\0${namespace}`, 32));
    const id8 = Buffer.from(id, 'ascii');
    this.header = Buffer.concat([Buffer.from([FORMAT, id8.length]), id8]);
  }

  /** The storage key of a client's key under this key. */
  storageKey(clientKey: string): string {
    return `${STORAGE_KEY_PREFIX}${this.id}:${createHmac('sha256', this.lookup).update(clientKey, 'utf8').digest('base64url')}`;
  }

  /** Seal `value` to be stored under `storageKey`. */
  seal(value: Buffer, storageKey: string): Buffer {
    const salt = randomSalt();
    const head = Buffer.concat([this.header, salt]);
    const cipher = createCipheriv('aes-256-gcm', this.recordKey(salt), NONCE, { authTagLength: TAG_BYTES });
    cipher.setAAD(this.aad(storageKey, head));
    return Buffer.concat([head, cipher.update(value), cipher.final(), cipher.getAuthTag()]);
  }

  /** Open a record sealed under this key (its header names this key's id: see keyIdOf). */
  open(record: Buffer, storageKey: string): Opened {
    const headBytes = this.header.length + SALT_BYTES;
    if (record.length < headBytes + TAG_BYTES || !record.subarray(0, this.header.length).equals(this.header)) return { ok: false, reason: 'format' };
    const head = record.subarray(0, headBytes);
    const decipher = createDecipheriv('aes-256-gcm', this.recordKey(head.subarray(this.header.length)), NONCE, { authTagLength: TAG_BYTES });
    decipher.setAAD(this.aad(storageKey, head));
    decipher.setAuthTag(record.subarray(record.length - TAG_BYTES));
    try {
      const value = Buffer.concat([decipher.update(record.subarray(headBytes, record.length - TAG_BYTES)), decipher.final()]);
      return { ok: true, value, keyId: this.id };
    } catch {
      return { ok: false, reason: 'authentication' };
    }
  }

  private recordKey(salt: Buffer): Buffer {
    return createHmac('sha256', this.values).update(salt).digest();
  }

  private aad(storageKey: string, head: Buffer): Buffer {
    return Buffer.concat([Buffer.from(`${AAD_PREFIX}\0${this.namespace}\0${storageKey}\0${this.id}\0`, 'utf8'), head]);
  }
}

/** The key id a sealed record's header names, or undefined when it is not a sealed record of a format this reads. */
export function keyIdOf(record: Buffer): string | undefined {
  if (record.length < 2 || record[0] !== FORMAT) return undefined;
  const length = record[1]!;
  if (length < 1 || length > 32 || record.length < 2 + length + SALT_BYTES + TAG_BYTES) return undefined;
  return record.toString('ascii', 2, 2 + length);
}

/** The key id of a sealed storage key, or undefined for any other key. */
export function keyIdOfStorageKey(storageKey: string): string | undefined {
  if (!storageKey.startsWith(STORAGE_KEY_PREFIX)) return undefined;
  const end = storageKey.indexOf(':', STORAGE_KEY_PREFIX.length);
  return end === -1 ? undefined : storageKey.slice(STORAGE_KEY_PREFIX.length, end);
}

/** Random salts drawn 4 KiB at a time: a record costs a copy, not a system call. */
const POOL = Buffer.alloc(4096);
let used = POOL.length;

function randomSalt(): Buffer {
  if (used + SALT_BYTES > POOL.length) {
    randomFillSync(POOL);
    used = 0;
  }
  used += SALT_BYTES;
  return Buffer.from(POOL.subarray(used - SALT_BYTES, used));
}
