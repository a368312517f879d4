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
 *   16 bytes      version: the session's ETag, random per write, kept by a touch or a move
 *   4 bytes       sealed until: the expiry it was sealed with, in seconds since the epoch
 *                 (0: none); a record past it does not open, so a copy an attacker put
 *                 back is refused once the lifetime it was sealed with is over
 *   …             ciphertext, then the 16-byte GCM tag
 *
 * The record's own key is HMAC-SHA-256(value key, salt): a fresh key for every record,
 * so the fixed all-zero GCM nonce is never reused under a key, at any write rate (a
 * salt repeats after about 2^64 records). The associated data binds the record to its
 * namespace, its storage key and its key id (and the whole header): a record copied to
 * another key, another namespace, or passed off as another key id's fails to open.
 */
import { createCipheriv, createDecipheriv, hash, hkdfSync, randomFillSync } from 'node:crypto';

const FORMAT = 1;
const SALT_BYTES = 16;
const VERSION_BYTES = 16;
const UNTIL_BYTES = 4;
const TAG_BYTES = 16;
/** A record is refused this long after its sealed expiry, not sooner: clocks of hosts sharing a store differ. */
const EXPIRY_MARGIN_SECONDS = 60;
const NONCE = Buffer.alloc(12);
const DERIVATION_SALT = Buffer.from('firkin sealed namespaces v1');
const AAD_PREFIX = 'firkin sealed record v1';

/** The prefix of every sealed storage key: a plain key in `migrate` mode never takes this shape. */
export const STORAGE_KEY_PREFIX = 's1:';

/** Why a record did not open (a metric label; never anything of the record itself). */
export type OpenFailure = 'format' | 'unknown-key' | 'authentication' | 'expired';

/** What a record says of itself besides its value: its version (the ETag) and the expiry it was sealed with. */
export interface Seal {
  /** 128 bits, base64url. */
  readonly version: string;
  /** Seconds since the epoch; 0: no expiry. */
  readonly until: number;
}

export type Opened = ({ readonly ok: true; readonly value: Buffer; readonly keyId: string } & Seal) | { readonly ok: false; readonly reason: OpenFailure };

/** A new record's seal: a random version, and the expiry `ttlSeconds` from now (0: none). */
export function freshSeal(ttlSeconds: number, now = Date.now()): Seal {
  return { version: randomBytesOf(VERSION_BYTES).toString('base64url'), until: untilOf(ttlSeconds, now) };
}

/** The sealed expiry of a lifetime of `ttlSeconds` from `now`. */
export function untilOf(ttlSeconds: number, now = Date.now()): number {
  return ttlSeconds > 0 ? Math.min(0xffffffff, Math.ceil(now / 1000) + ttlSeconds) : 0;
}

/**
 * HMAC-SHA-256 under one key (RFC 2104), computed with two one-shot hashes over the key's
 * padded blocks, prepared once: the same bytes as `createHmac('sha256', key)`, at a
 * fraction of its cost on a request's path. `createHmac` sets up an OpenSSL HMAC context
 * for every call, and a digest asked for as a Buffer is a Buffer made in C++ (a new
 * ArrayBuffer, its prototype set): each hash here answers a string (`binary`, i.e.
 * latin1, one byte a character, or `base64url`), and the bytes go to scratch buffers
 * where they are needed. The scratch buffers are zeroed after each use; the digests'
 * strings live on in V8's heap until collected, as any Buffer's bytes would.
 */
export class HmacSha256 {
  private readonly inner: Buffer;
  private readonly outer: Buffer;

  constructor(key: Buffer) {
    if (key.length > BLOCK) throw new RangeError('an HMAC key here is at most 64 bytes');
    this.inner = Buffer.alloc(BLOCK, 0x36);
    this.outer = Buffer.alloc(BLOCK, 0x5c);
    for (let i = 0; i < key.length; i++) {
      this.inner[i]! ^= key[i]!;
      this.outer[i]! ^= key[i]!;
    }
  }

  /** The MAC of `message` (a string is taken as UTF-8), base64url. */
  base64url(message: Buffer | string): string {
    try {
      return hash('sha256', this.outerBlock(message), 'base64url');
    } finally {
      OUTER.fill(0);
    }
  }

  /** The MAC of `message` written into `target`'s first 32 bytes; returns `target`. */
  into(message: Buffer | string, target: Buffer): Buffer {
    if (target.length < 32) throw new RangeError('an HMAC-SHA-256 takes 32 bytes');
    try {
      target.write(hash('sha256', this.outerBlock(message), 'binary'), 0, 32, 'latin1');
    } finally {
      OUTER.fill(0);
    }
    return target;
  }

  /** The outer hash's input: the outer padded key, then the inner hash of `message`. */
  private outerBlock(message: Buffer | string): Buffer {
    const length = typeof message === 'string' ? Buffer.byteLength(message, 'utf8') : message.length;
    // Scratch buffers, only read by the synchronous hashes of this call: nothing can interleave.
    const block = BLOCK + length <= SCRATCH.length ? SCRATCH.subarray(0, BLOCK + length) : Buffer.allocUnsafe(BLOCK + length);
    try {
      this.inner.copy(block, 0);
      if (typeof message === 'string') block.write(message, BLOCK, 'utf8');
      else message.copy(block, BLOCK);
      this.outer.copy(OUTER, 0);
      OUTER.write(hash('sha256', block, 'binary'), BLOCK, 32, 'latin1');
    } finally {
      // The message may be a client's key (a credential): not left in the scratch.
      block.fill(0);
    }
    return OUTER;
  }
}

const BLOCK = 64;
const SCRATCH = Buffer.alloc(4096);
const OUTER = Buffer.alloc(BLOCK + 32);
/** A record's own key, between its derivation and the cipher's set-up (which copies it); zeroed after. */
const RECORD_KEY = Buffer.alloc(32);

/** An HMAC under derived key bytes, which are zeroed once its padded blocks are made. */
function hmacOf(derived: ArrayBuffer): HmacSha256 {
  const key = Buffer.from(derived);
  try {
    return new HmacSha256(key);
  } finally {
    key.fill(0);
  }
}

/** One keyring key's two keys for one namespace. */
export class NamespaceKey {
  private readonly lookup: HmacSha256;
  private readonly values: HmacSha256;
  private readonly header: Buffer;
  /** The associated data's start, the same for every record of this key: `firkin sealed record v1\0<namespace>\0`. */
  private readonly aadPrefix: Buffer;
  /** What follows the storage key in the associated data: `\0<key id>\0`. */
  private readonly aadKeyId: Buffer;
  /** Where a record's salt and its trailer (version, sealed expiry) start, and its header's length. */
  private readonly saltAt: number;
  private readonly trailerAt: number;
  private readonly headBytes: number;

  constructor(
    readonly id: string,
    secret: Buffer,
    readonly namespace: string,
  ) {
    this.lookup = hmacOf(hkdfSync('sha256', secret, DERIVATION_SALT, `storage key\0${namespace}`, 32));
    this.values = hmacOf(hkdfSync('sha256', secret, DERIVATION_SALT, `value\0${namespace}`, 32));
    const id8 = Buffer.from(id, 'ascii');
    this.header = Buffer.concat([Buffer.from([FORMAT, id8.length]), id8]);
    this.saltAt = this.header.length;
    this.trailerAt = this.saltAt + SALT_BYTES;
    this.headBytes = this.trailerAt + VERSION_BYTES + UNTIL_BYTES;
    this.aadPrefix = Buffer.from(`${AAD_PREFIX}\0${namespace}\0`, 'utf8');
    this.aadKeyId = Buffer.from(`\0${id}\0`, 'utf8');
  }

  /** The storage key of a client's key under this key. */
  storageKey(clientKey: string): string {
    return `${STORAGE_KEY_PREFIX}${this.id}:${this.lookup.base64url(clientKey)}`;
  }

  /** Seal `value` to be stored under `storageKey`, with its version and sealed expiry. */
  seal(value: Buffer, storageKey: string, seal: Seal): Buffer {
    const { saltAt, trailerAt, headBytes } = this;
    const record = Buffer.allocUnsafe(headBytes + value.length + TAG_BYTES);
    this.header.copy(record, 0);
    randomInto(record, saltAt, SALT_BYTES);
    if (record.write(seal.version, trailerAt, VERSION_BYTES + 1, 'base64url') !== VERSION_BYTES) throw new TypeError('a version is 16 bytes');
    record.writeUInt32BE(seal.until, trailerAt + VERSION_BYTES);
    const head = record.subarray(0, headBytes);
    const cipher = this.withRecordKey(head.subarray(saltAt, trailerAt), (key) => createCipheriv('aes-256-gcm', key, NONCE, { authTagLength: TAG_BYTES }));
    cipher.setAAD(this.aad(storageKey, head));
    // GCM is a stream mode: the ciphertext is as long as the value, and final() adds nothing.
    if (cipher.update(value).copy(record, headBytes) !== value.length || cipher.final().length !== 0) throw new Error('AES-256-GCM changed the length of a value');
    cipher.getAuthTag().copy(record, headBytes + value.length);
    return record;
  }

  /**
   * Open a record sealed under this key (its header names this key's id: see keyIdOf):
   * refused when it does not authenticate, or once `now` is past the expiry it was sealed
   * with (by more than a minute of clock difference).
   */
  open(record: Buffer, storageKey: string, now = Date.now()): Opened {
    const { saltAt, trailerAt, headBytes } = this;
    if (record.length < headBytes + TAG_BYTES || record.compare(this.header, 0, saltAt, 0, saltAt) !== 0) return { ok: false, reason: 'format' };
    const head = record.subarray(0, headBytes);
    const decipher = this.withRecordKey(head.subarray(saltAt, trailerAt), (key) => createDecipheriv('aes-256-gcm', key, NONCE, { authTagLength: TAG_BYTES }));
    decipher.setAAD(this.aad(storageKey, head));
    decipher.setAuthTag(record.subarray(record.length - TAG_BYTES));
    let value: Buffer;
    try {
      value = decipher.update(record.subarray(headBytes, record.length - TAG_BYTES));
      // Checks the tag (throws when it does not match); adds no bytes in GCM.
      decipher.final();
    } catch {
      return { ok: false, reason: 'authentication' };
    }
    const until = head.readUInt32BE(trailerAt + VERSION_BYTES);
    if (until !== 0 && Math.floor(now / 1000) > until + EXPIRY_MARGIN_SECONDS) return { ok: false, reason: 'expired' };
    return { ok: true, value, keyId: this.id, version: head.toString('base64url', trailerAt, trailerAt + VERSION_BYTES), until };
  }

  /** `use`'s answer, given the record's own key (the HMAC of its salt), which is zeroed after (the cipher's set-up copies it). */
  private withRecordKey<T>(salt: Buffer, use: (key: Buffer) => T): T {
    try {
      return use(this.values.into(salt, RECORD_KEY));
    } finally {
      RECORD_KEY.fill(0);
    }
  }

  /** `firkin sealed record v1\0<namespace>\0<storage key>\0<key id>\0<header>`. */
  private aad(storageKey: string, head: Buffer): Buffer {
    const keyBytes = Buffer.byteLength(storageKey, 'utf8');
    const aad = Buffer.allocUnsafe(this.aadPrefix.length + keyBytes + this.aadKeyId.length + head.length);
    let at = this.aadPrefix.copy(aad, 0);
    at += aad.write(storageKey, at, 'utf8');
    at += this.aadKeyId.copy(aad, at);
    head.copy(aad, at);
    return aad;
  }
}

/** The key id a sealed record's header names, or undefined when it is not a sealed record of a format this reads. */
export function keyIdOf(record: Buffer): string | undefined {
  if (record.length < 2 || record[0] !== FORMAT) return undefined;
  const length = record[1]!;
  if (length < 1 || length > 32 || record.length < 2 + length + SALT_BYTES + VERSION_BYTES + UNTIL_BYTES + TAG_BYTES) return undefined;
  return record.toString('ascii', 2, 2 + length);
}

/** The key id of a sealed storage key, or undefined for any other key. */
export function keyIdOfStorageKey(storageKey: string): string | undefined {
  if (!storageKey.startsWith(STORAGE_KEY_PREFIX)) return undefined;
  const end = storageKey.indexOf(':', STORAGE_KEY_PREFIX.length);
  return end === -1 ? undefined : storageKey.slice(STORAGE_KEY_PREFIX.length, end);
}

/** Random bytes drawn 4 KiB at a time: a record costs a copy, not a system call. */
const POOL = Buffer.alloc(4096);
let used = POOL.length;

function randomBytesOf(n: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  randomInto(out, 0, n);
  return out;
}

/** Fill `n` bytes of `target` at `offset` with random bytes from the pool. */
function randomInto(target: Buffer, offset: number, n: number): void {
  if (used + n > POOL.length) {
    randomFillSync(POOL);
    used = 0;
  }
  POOL.copy(target, offset, used, used + n);
  used += n;
}
