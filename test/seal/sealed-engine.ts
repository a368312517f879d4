/** A storage engine whose stores are sealed (src/seal/sealed-store.ts), for the conformance suite. */
import { randomBytes } from 'node:crypto';
import type { Sealing } from '../../src/config/types.js';
import { Keyring, KeyringHolder } from '../../src/seal/keyring.js';
import { SealedStore } from '../../src/seal/sealed-store.js';
import type { EngineStore, StorageEngine } from '../../src/storage/engine.js';

/**
 * `inner`'s stores, sealed in `mode` under a keyring of two keys (the active `k2` and an
 * older `k1`), so the multi-key paths (lookups, removal of older copies) always run.
 */
export function sealedEngine(inner: StorageEngine, mode: Exclude<Sealing, 'plain'> = 'sealed'): StorageEngine {
  const holder = new KeyringHolder(
    new Keyring('k2', [
      { id: 'k1', secret: randomBytes(32) },
      { id: 'k2', secret: randomBytes(32) },
    ]),
  );
  return {
    kind: inner.kind,
    knowsPreviousVersion: false,
    store: (spec) => new SealedStore(inner.store(spec), spec.name, holder, mode) as unknown as EngineStore,
    probe: (timeoutMs) => inner.probe(timeoutMs),
    close: () => inner.close(),
  };
}
