/**
 * What `firkin export` and `firkin import` see of a store (storage/transfer.ts opens one):
 * a source read in pages, a target that only adds. Apart from transfer.ts so that the
 * engines' transfer modules, which transfer.ts loads, import no module that imports them.
 */
import type { NamespaceSpec, StoredValue } from './engine.js';

/** A live session as a source reads it: its storage key, its bytes as stored, when it expires. */
export interface TransferRecord {
  readonly key: string;
  readonly value: Buffer;
  /** Milliseconds since the epoch; null: never. */
  readonly expiresAt: number | null;
}

/** The configured store, read-only. */
export interface TransferSource {
  readonly kind: 'embedded' | 'cassandra';
  /** The live records of a namespace, a page at a time (bounded in records and bytes). */
  pages(namespace: NamespaceSpec): AsyncIterable<readonly TransferRecord[]>;
  /** The live value under a storage key. */
  get(namespace: NamespaceSpec, key: string): Promise<StoredValue | undefined>;
  /** Records met that could not be read (the embedded engine's damaged ones), left out. */
  readonly damaged: number;
  close(): Promise<void>;
}

/** The configured store, taking writes that only add. */
export interface TransferTarget {
  readonly kind: 'embedded' | 'cassandra';
  /**
   * Store `value` under `key` unless the key holds a live value; true if it was stored.
   * `ttlSeconds()` (0: no expiry) is asked at the last moment before the write, so the
   * time spent waiting (a read before, writes queued) does not lengthen the lifetime.
   */
  add(namespace: NamespaceSpec, key: string, value: Buffer, ttlSeconds: () => number): Promise<boolean>;
  close(): Promise<void>;
}

/** Records per page of a walk, and about how many bytes of keys and values. */
export const PAGE_RECORDS = 1000;
export const PAGE_BYTES = 2 * 1024 * 1024;
