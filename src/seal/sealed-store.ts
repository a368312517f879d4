/**
 * A sealed namespace's store (docs/security.md, "Sealed namespaces"): between the
 * namespace and its engine store, it turns each client key into storage keys (one
 * per keyring key) and seals values (sealing.ts), so that storage holds neither.
 *
 * - A read tries the active key's copy, then the other keys' (at most 8), then, in
 *   `migrate` mode, the plain copy. A record that does not open (tampered, damaged,
 *   under a key id no longer in the keyring) is never served: the client gets the
 *   answer for a missing key, and the event is reported (logged without the key and
 *   counted) — and no older copy is tried after it.
 * - A write goes under the active key and removes the copies under the others (and
 *   the plain one), so a deleted or replaced session never comes back through them.
 * - A delete removes every copy at once (EngineStore.deleteAll).
 * - A touch of a copy under an older key (or of a plain copy) moves it to the active
 *   key, re-sealed (EngineStore.relocate), so that sessions that are only ever touched
 *   leave the old key too and rotation can finish.
 * - A conditional write first moves a copy found under an older key, so that the
 *   condition is tested against the live session: an If-Match naming the old copy's
 *   ETag then fails once (412) and the client reads again.
 *
 * ETags are the engine's versions of the sealed records: they tell nothing of the value.
 */
import type { Sealing } from '../config/types.js';
import type { Condition, EngineStore, KeyValueStore, SetOutcome, StoredValue, Touched } from '../storage/engine.js';
import { StorageError } from '../storage/errors.js';
import type { KeyringHolder, NamespaceKeys } from './keyring.js';
import { keyIdOf, STORAGE_KEY_PREFIX, type OpenFailure } from './sealing.js';

/** Told when a record does not open (the metric and the log, wired at assembly): never the key. */
export type OnOpenFailure = (namespace: string, reason: OpenFailure, keyId: string | undefined) => void;

export class SealedStore implements KeyValueStore {
  readonly acceptsConditions: boolean;

  constructor(
    private readonly inner: EngineStore,
    private readonly namespace: string,
    private readonly keyring: KeyringHolder,
    private readonly mode: Exclude<Sealing, 'plain'>,
    private readonly onOpenFailure: OnOpenFailure = () => undefined,
  ) {
    this.acceptsConditions = inner.acceptsConditions;
  }

  private keys(): NamespaceKeys {
    return this.keyring.current.forNamespace(this.namespace);
  }

  /** Where a session's copies may be: every key's storage key (the active one first), then the plain key in migrate mode. */
  private copies(keys: NamespaceKeys, key: string): string[] {
    const storageKeys = keys.all.map((k) => k.storageKey(key));
    if (this.mode === 'migrate' && !key.startsWith(STORAGE_KEY_PREFIX)) storageKeys.push(key);
    return storageKeys;
  }

  async get(key: string): Promise<StoredValue | undefined> {
    const keys = this.keys();
    for (const storageKey of this.copies(keys, key)) {
      const found = await this.inner.get(storageKey);
      if (found === undefined) continue;
      const value = this.open(keys, found.value, storageKey);
      // A copy that does not open ends the lookup: an older copy must not stand in for it.
      return value === undefined ? undefined : { value, version: found.version, ttl: found.ttl };
    }
    return undefined;
  }

  async set(key: string, value: Buffer, ttlSeconds: number, condition?: Condition): Promise<SetOutcome> {
    const keys = this.keys();
    const [active, ...others] = this.copies(keys, key);
    if (condition !== undefined) {
      // The condition holds or fails on the live session: one under an older key moves first.
      if ((await this.inner.get(active!)) === undefined) await this.moveFirstFound(keys, others, active!);
    }
    const outcome = await this.inner.set(active!, keys.active.seal(value, active!), ttlSeconds, condition);
    if (outcome.applied) await this.removeCopies(others);
    // The sealed bytes never repeat (a random salt each time): whether the value did is not known here.
    return outcome.applied ? { applied: true, version: outcome.version } : outcome;
  }

  async touch(key: string, ttlSeconds: number): Promise<Touched | undefined> {
    const keys = this.keys();
    const [active, ...others] = this.copies(keys, key);
    // The active copy is touched only if it opens: one that does not is a missing session.
    let refused = false;
    const opens = (record: Buffer): boolean => {
      if (this.open(keys, record, active!) !== undefined) return true;
      refused = true;
      return false;
    };
    const touched = await this.inner.touch(active!, ttlSeconds, opens);
    if (touched !== undefined || refused) return touched;
    for (const from of others) {
      const found = await this.inner.get(from);
      if (found === undefined) continue;
      // A copy that does not open is a missing session: not moved, not touched.
      if (this.open(keys, found.value, from) === undefined) return undefined;
      return this.inner.relocate(from, active!, this.resealer(keys, from, active!), ttlSeconds);
    }
    return undefined;
  }

  delete(key: string): Promise<void> {
    return this.inner.deleteAll(this.copies(this.keys(), key));
  }

  truncate(): Promise<void> {
    return this.inner.truncate();
  }

  /** The value of a sealed record (or, in migrate mode, of a plain copy), or undefined when it does not open. */
  private open(keys: NamespaceKeys, record: Buffer, storageKey: string): Buffer | undefined {
    if (!storageKey.startsWith(STORAGE_KEY_PREFIX)) return record; // a plain copy (migrate)
    const id = keyIdOf(record);
    const key = id === undefined ? undefined : keys.byId(id);
    if (key === undefined) {
      this.onOpenFailure(this.namespace, id === undefined ? 'format' : 'unknown-key', id);
      return undefined;
    }
    const opened = key.open(record, storageKey);
    if (!opened.ok) {
      this.onOpenFailure(this.namespace, opened.reason, id);
      return undefined;
    }
    return opened.value;
  }

  /** Bytes under `from` re-sealed for `to` under the active key; a record that does not open is refused (it is not moved). */
  private resealer(keys: NamespaceKeys, from: string, to: string): (record: Buffer) => Buffer {
    return (record) => {
      const value = this.open(keys, record, from);
      if (value === undefined) throw new StorageError('corrupt', 'a sealed record under an older key does not open');
      return keys.active.seal(value, to);
    };
  }

  /** Move the first copy found among `candidates` to `to`, keeping its remaining lifetime. */
  private async moveFirstFound(keys: NamespaceKeys, candidates: readonly string[], to: string): Promise<void> {
    for (const from of candidates) {
      const found = await this.inner.get(from);
      if (found === undefined) continue;
      if (this.open(keys, found.value, from) === undefined) return;
      await this.inner.relocate(from, to, this.resealer(keys, from, to), found.ttl ?? 0);
      return;
    }
  }

  /** Remove the copies that exist among `keys` (reads first: during a rotation most are already gone). */
  private async removeCopies(keys: readonly string[]): Promise<void> {
    for (const key of keys) if ((await this.inner.get(key)) !== undefined) await this.inner.delete(key);
  }
}
