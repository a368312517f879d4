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

export { PAGE_BYTES, PAGE_RECORDS, type TransferRecord, type TransferSource, type TransferTarget } from './transfer-types.js';
import type { TransferSource, TransferTarget } from './transfer-types.js';

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
