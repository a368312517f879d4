/**
 * Counting a namespace's live keys in an embedded store by what they look like
 * (`firkin keys status`), from another process while the service runs: LMDB serves
 * readers in any number of processes, and this one opens the environment read-only,
 * takes no lock of the service's, and writes nothing. Values are decoded only for
 * their expiry, never kept or shown.
 */
import { join } from 'node:path';
import { open } from 'lmdb';

/** Live keys of each of `namespaces`, counted by `label(key)`. */
export async function countEmbeddedKeys(path: string, namespaces: readonly string[], label: (key: string) => string): Promise<Map<string, Map<string, number>>> {
  const root = open({ path: join(path, 'firkin.mdb'), readOnly: true, maxDbs: 256 });
  try {
    const now = Date.now();
    const result = new Map<string, Map<string, number>>();
    for (const name of namespaces) {
      const counts = new Map<string, number>();
      const db = root.openDB<unknown, string>({ name: `ns:${name}` });
      for (const { key, value } of db.getRange({})) {
        const expiresAt = Array.isArray(value) ? value[0] : undefined;
        if (typeof expiresAt === 'number' && expiresAt !== 0 && expiresAt <= now) continue;
        const l = label(String(key));
        counts.set(l, (counts.get(l) ?? 0) + 1);
      }
      result.set(name, counts);
    }
    return result;
  } finally {
    await root.close();
  }
}
