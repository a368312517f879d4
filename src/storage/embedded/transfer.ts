/**
 * The embedded store as a source or a target of `firkin export` / `firkin import`
 * (storage/transfer.ts).
 *
 * Source: the engine opened read-only (as `firkin store check` opens it), beside the
 * server that serves the store; each namespace walked in pages (EmbeddedStore.scan),
 * each page in a read transaction of its own.
 *
 * Target: the engine opened read-write, one more writer process beside the server's, as
 * each of a server's workers is one: LMDB serialises the write transactions of every
 * process sharing the file, each add is one of them (read, condition, write: atomic), and
 * the expiry index is kept in the same transaction, so the server's sweeper removes
 * imported records when they expire. The instance lock (instance-lock.ts) is not taken: it
 * keeps a second *server* off a directory, and an import is not one. The size bound
 * holds: this process's budget admits each add against `embedded.max_size` (refused:
 * `full`), and the server's measures the pages in use again at every sweeper tick. Its
 * own sweeper is left idle: the server's does that work.
 */
import { PAGE_BYTES, PAGE_RECORDS, type TransferSource, type TransferTarget } from '../transfer-types.js';
import { EmbeddedEngine } from './lmdb-engine.js';

/** The importer's sweeper: idle (once a day); the server's sweeps. */
const IMPORT_SWEEP_INTERVAL_MS = 86_400_000;

export function embeddedSource(path: string): TransferSource {
  const engine = new EmbeddedEngine({ path, readOnly: true });
  let damaged = 0;
  return {
    kind: 'embedded',
    get damaged() {
      return damaged;
    },
    async *pages(namespace) {
      const store = engine.store(namespace);
      let after: string | undefined;
      for (;;) {
        const page = store.scan(after, PAGE_RECORDS, PAGE_BYTES);
        damaged += page.damaged;
        if (page.records.length > 0) yield page.records;
        if (page.done) return;
        after = page.last;
        // After lmdb-js's own timer has reset its read transaction (setTimeout 0, at the read):
        // the next page reads a fresh snapshot, and this one's pages are released.
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
    },
    get: (namespace, key) => engine.store(namespace).get(key),
    close: () => engine.close(),
  };
}

export function embeddedTarget(path: string, maxSize: number | undefined): TransferTarget {
  const engine = new EmbeddedEngine({ path, ...(maxSize === undefined ? {} : { maxSize }), sweepIntervalMs: IMPORT_SWEEP_INTERVAL_MS });
  return {
    kind: 'embedded',
    async add(namespace, key, value, ttlSeconds) {
      const outcome = await engine.store(namespace).set(key, value, ttlSeconds(), { kind: 'absent' });
      return outcome.applied;
    },
    close: () => engine.close(),
  };
}
