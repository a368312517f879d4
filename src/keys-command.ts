/**
 * `firkin keys`: the keyring of sealed namespaces (docs/security.md, "Key management").
 *
 *   firkin keys generate FILE         a new key: 32 random bytes in a new file of mode 0600
 *   firkin keys status --config FILE  each sealed namespace's live records per key id
 *
 * Neither ever prints key material: only key ids and counts.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, writeSync } from 'node:fs';
import type { FirkinConfig } from './config/types.js';
import { keyIdOfStorageKey } from './seal/sealing.js';

/** Write a new key file; exit code 0, or 2 if the file exists or cannot be made. */
export function generateKey(file: string): number {
  let fd: number;
  try {
    // O_EXCL: never overwrite a key (it may be the only copy of one in use).
    fd = openSync(file, 'wx', 0o600);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    process.stderr.write(`firkin: keys generate: cannot create ${file} (${code})${code === 'EEXIST' ? ': it exists, and a key is never overwritten' : ''}\n`);
    return 2;
  }
  const key = randomBytes(32);
  try {
    writeSync(fd, key);
  } finally {
    key.fill(0);
    closeSync(fd);
  }
  process.stdout.write(`${file}: a new key, 32 random bytes, mode 0600; add it to keyring.keys with an id of its own\n`);
  return 0;
}

/** What a storage key is under: a key id, `plain` (a plain copy, migrate mode), or `other`. */
function labelOf(ids: ReadonlySet<string>): (key: string) => string {
  return (key) => {
    const id = keyIdOfStorageKey(key);
    if (id === undefined) return 'plain';
    return ids.has(id) ? id : `${id} (not in the keyring)`;
  };
}

/** Count each sealed namespace's records per key id; exit code 0, or 1 if a scan failed. */
export async function keysStatus(config: FirkinConfig): Promise<number> {
  const sealed = config.namespaces.filter((ns) => ns.sealing !== 'plain');
  if (config.keyring === undefined || sealed.length === 0) {
    process.stdout.write(`${config.file}: no sealed namespace\n`);
    return 0;
  }
  const keyring = config.keyring;
  // The active key first.
  const ids = new Set([keyring.active, ...keyring.keys.map((k) => k.id)]);
  const label = labelOf(ids);
  let counts: Map<string, Map<string, number>>;
  try {
    if (config.storage === 'embedded') {
      const { countEmbeddedKeys } = await import('./storage/embedded/census.js');
      counts = await countEmbeddedKeys(config.embedded.path, sealed.map((ns) => ns.name), label);
    } else {
      const { countTableKeys } = await import('./storage/cassandra/census.js');
      counts = new Map();
      for (const ns of sealed) {
        let last = Date.now();
        counts.set(
          ns.name,
          await countTableKeys(config.cassandra!, ns.table, label, (n) => {
            if (Date.now() - last < 10_000) return;
            last = Date.now();
            process.stderr.write(`firkin: keys status: namespace ${ns.name}: ${n} keys so far\n`);
          }),
        );
      }
    }
  } catch (err) {
    process.stderr.write(`firkin: keys status failed: ${(err as Error).message}\n`);
    return 1;
  }
  const how = config.storage === 'embedded' ? 'live records' : 'records (read at consistency ONE)';
  for (const ns of sealed) {
    const c = counts.get(ns.name) ?? new Map<string, number>();
    const parts = [...ids].map((id) => `${id}${id === keyring.active ? ' (active)' : ''} ${c.get(id) ?? 0}`);
    for (const [l, n] of c) if (!ids.has(l)) parts.push(`${l} ${n}`);
    process.stdout.write(`namespace ${ns.name} (${ns.sealing === 'migrate' ? 'sealed: migrate' : 'sealed'}): ${how}: ${parts.join(', ')}\n`);
  }
  const idle = [...ids].filter((id) => id !== keyring.active && sealed.every((ns) => (counts.get(ns.name)?.get(id) ?? 0) === 0));
  if (idle.length > 0) process.stdout.write(`no record is sealed under ${idle.join(', ')}: ${idle.length === 1 ? 'it' : 'they'} can leave the keyring\n`);
  return 0;
}
