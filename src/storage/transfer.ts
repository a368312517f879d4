/**
 * Moving sessions between stores (`firkin export`, `firkin import`): the configured
 * store as a source, read-only and in pages, or as a target that only adds. Only the
 * configured engine's modules are loaded (as open.ts does).
 *
 * - A source walks each namespace in pages (embedded: key order, each page in a read
 *   transaction of its own; Cassandra: token order, paged SELECTs at LOCAL_QUORUM),
 *   returning live records only, under their storage keys, with their bytes as stored.
 *   It never writes, and works beside the servers of the store: the embedded one is
 *   opened read-only, without the servers' instance lock.
 * - A target adds: a value is stored only where its key holds no live value, so an import
 *   never overwrites a value written since (and running it twice changes nothing). The
 *   embedded engine and `conditional_writes` namespaces on Cassandra add atomically (an
 *   LMDB write transaction; a lightweight transaction `IF value = null`); a plain
 *   namespace on Cassandra reads, then writes stamped before that read
 *   (PlainStore.addIfAbsent), so a write or delete made after the read wins.
 */
import type { FirkinConfig } from '../config/types.js';
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

/** The configured store as a source; rejects if it cannot be opened (an embedded store that does not exist, Cassandra unreachable). */
export async function openSource(config: FirkinConfig): Promise<TransferSource> {
  if (config.storage === 'embedded') {
    const { embeddedSource } = await import('./embedded/transfer.js');
    return embeddedSource(config.embedded.path);
  }
  const { cassandraSource } = await import('./cassandra/transfer.js');
  return cassandraSource(config.cassandra!);
}

/** The configured store as a target; rejects if it cannot be opened. */
export async function openTarget(config: FirkinConfig): Promise<TransferTarget> {
  if (config.storage === 'embedded') {
    const { embeddedTarget } = await import('./embedded/transfer.js');
    return embeddedTarget(config.embedded.path, config.embedded.maxSize);
  }
  const { cassandraTarget } = await import('./cassandra/transfer.js');
  return cassandraTarget(config.cassandra!);
}
