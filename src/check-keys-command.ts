/** `firkin check-keys` (cli.ts): a keyspace Kask wrote, scanned for keys Firkin would refuse. */
import type { FirkinConfig } from './config/types.js';

/**
 * `firkin check-keys`: one line per namespace (counts and lengths, never a key), then a
 * verdict. 0: Firkin can read and delete every key; 1: some keys are longer than
 * max_key_bytes (or hold control characters), or the scan failed.
 */
export async function checkKeysCommand(config: FirkinConfig, cassandra: NonNullable<FirkinConfig['cassandra']>): Promise<number> {
  const { checkKeys } = await import('./storage/cassandra/check-keys.js');
  const limit = config.maxKeyBytes;
  let reports;
  try {
    let lastReport = Date.now();
    reports = await checkKeys(cassandra, config.namespaces, limit, (namespace, keys) => {
      if (Date.now() - lastReport < 10_000) return;
      lastReport = Date.now();
      process.stderr.write(`firkin: check-keys: namespace ${namespace}: ${keys} keys so far\n`);
    });
  } catch (err) {
    process.stderr.write(`firkin: check-keys failed: ${(err as Error).message}\n`);
    return 1;
  }
  for (const r of reports) {
    process.stdout.write(
      `namespace ${r.namespace} (${r.table}): ${r.keys} keys, longest ${r.longestBytes} bytes, ` +
        `${r.overLimit} longer than max_key_bytes ${limit}, ${r.withControl} with control characters\n`,
    );
  }
  const over = reports.reduce((n, r) => n + r.overLimit, 0);
  const control = reports.reduce((n, r) => n + r.withControl, 0);
  const longest = Math.max(0, ...reports.map((r) => r.longestBytes));
  if (over === 0 && control === 0) {
    process.stdout.write(`ok: every key is at most max_key_bytes ${limit} bytes long; Firkin can read and delete all of them\n`);
    return 0;
  }
  if (over > 0) {
    process.stdout.write(
      `FAIL: ${over} key(s) longer than max_key_bytes ${limit}: Firkin would answer 414 to them; ` +
        `set max_key_bytes to at least ${longest} (at most 65535, on storage: cassandra) before switching\n`,
    );
  }
  if (control > 0) {
    process.stdout.write(
      `FAIL: ${control} key(s) hold control characters (U+0000-U+001F, U+007F): Firkin would answer 400 to them; ` +
        'they expire with their TTL, or delete them through Kask or cqlsh\n',
    );
  }
  return 1;
}
