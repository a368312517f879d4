/**
 * A sealed namespace's store (docs/security.md, "Sealed namespaces"): between the
 * namespace and its engine store, it turns each client key into storage keys (one
 * per keyring key) and seals values (sealing.ts), so that storage holds neither.
 *
 * - A read tries the active key's copy, then the other keys' (at most 8), then, in
 *   `migrate` mode, the plain copy. A record that does not open (tampered, damaged,
 *   past the expiry it was sealed with, under a key id no longer in the keyring) is
 *   never served: the client gets the answer for a missing key, and the event is
 *   reported (logged without the key and counted); no older copy is tried after it.
 * - A write goes under the active key and removes the copies under the others (and
 *   the plain one), so a deleted or replaced session never comes back through them.
 * - A delete removes every copy at once (EngineStore.deleteAll).
 * - A touch re-seals the record with its new expiry; a copy under an older key (or a
 *   plain copy) moves to the active key (EngineStore.relocate), so sessions that are
 *   only ever touched leave the old key too, and rotation can finish.
 * - Versions (ETags) are the records' own: random per write, kept by a touch and by a
 *   move, so an If-Match still holds after a session moved to the active key. A
 *   conditional write moves an older copy first, then tests its condition on the
 *   record it read and writes only if the engine still holds that very record.
 */
import type { Sealing } from '../config/types.js';
import type { Condition, EngineStore, KeyValueStore, SetOutcome, StoredValue, Touched } from '../storage/engine.js';
import { StorageError } from '../storage/errors.js';
import type { KeyringHolder, NamespaceKeys } from './keyring.js';
import { freshSeal, keyIdOf, STORAGE_KEY_PREFIX, untilOf, type OpenFailure } from './sealing.js';

/** Told when a record does not open (the metric and the log, wired at assembly): never the key. */
export type OnOpenFailure = (namespace: string, reason: OpenFailure, keyId: string | undefined) => void;

/** An opened copy: the value, its version, and the expiry it was sealed with (0: none). */
interface Opened {
  readonly value: Buffer;
  readonly version: string;
  readonly until: number;
}

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

  /**
   * Where a session's copies may be: every key's storage key (the active one first), then
   * the plain key in migrate mode; `olderOnly` leaves out the active key's.
   */
  private copies(keys: NamespaceKeys, key: string, olderOnly = false): string[] {
    const storageKeys = (olderOnly ? keys.all.slice(1) : keys.all).map((k) => k.storageKey(key));
    if (this.mode === 'migrate' && !key.startsWith(STORAGE_KEY_PREFIX)) storageKeys.push(key);
    return storageKeys;
  }

  get(key: string): Promise<StoredValue | undefined> {
    try {
      const keys = this.keys();
      // The active key's copy first, with one promise reaction: where nearly every session is.
      const active = keys.active.storageKey(key);
      return this.inner.get(active).then((found) => (found === undefined ? this.getOlder(keys, key) : this.served(keys, active, found)));
    } catch (err) {
      // As an async function would: a failure is a rejected promise, never a throw.
      return Promise.reject(err);
    }
  }

  /** A session not under the active key: the copies under the other keys, then (migrate) the plain one. */
  private async getOlder(keys: NamespaceKeys, key: string): Promise<StoredValue | undefined> {
    for (const storageKey of this.copies(keys, key, true)) {
      const found = await this.inner.get(storageKey);
      if (found !== undefined) return this.served(keys, storageKey, found);
    }
    return undefined;
  }

  /** A copy found opened for the client; undefined when it does not open (reported): an older copy must not stand in for it. */
  private served(keys: NamespaceKeys, storageKey: string, found: StoredValue): StoredValue | undefined {
    const opened = this.open(keys, found.value, storageKey, found);
    return opened === undefined ? undefined : { value: opened.value, version: opened.version, ttl: found.ttl };
  }

  async set(key: string, value: Buffer, ttlSeconds: number, condition?: Condition): Promise<SetOutcome> {
    if (condition !== undefined && !this.acceptsConditions) throw new TypeError('a conditional write reached a sealed store whose engine store takes no condition');
    const keys = this.keys();
    const [active, ...others] = this.copies(keys, key) as [string, ...string[]];
    const seal = freshSeal(ttlSeconds);
    const record = keys.active.seal(value, active, seal);
    let outcome: SetOutcome;
    if (condition === undefined) {
      outcome = await this.inner.set(active, record, ttlSeconds);
    } else {
      // The condition holds or fails on the live session: one under an older key moves first.
      let current = await this.inner.get(active);
      if (current === undefined && (await this.moveFirstFound(keys, others, active))) current = await this.inner.get(active);
      const opened = current === undefined ? undefined : this.open(keys, current.value, active, current);
      // The engine writes only if it still holds the very record read (its own version of it).
      const unchanged: Condition | undefined = current === undefined ? { kind: 'absent' } : { kind: 'version', versions: [current.version] };
      const holds =
        condition.kind === 'absent' ? opened === undefined : condition.kind === 'present' ? opened !== undefined : opened !== undefined && condition.versions.includes(opened.version);
      outcome = holds ? await this.inner.set(active, record, ttlSeconds, unchanged) : { applied: false };
    }
    if (!outcome.applied) return outcome;
    await this.removeCopies(others);
    return { applied: true, version: seal.version };
  }

  async touch(key: string, ttlSeconds: number): Promise<Touched | undefined> {
    const keys = this.keys();
    const [active, ...others] = this.copies(keys, key) as [string, ...string[]];
    let refused = false;
    let version: string | undefined;
    // The active copy, re-sealed with its new expiry if it opens: one that does not is a missing session.
    const reseal = (record: Buffer): Buffer | undefined => {
      const opened = this.open(keys, record, active, undefined);
      if (opened === undefined) {
        refused = true;
        return undefined;
      }
      version = opened.version;
      return keys.active.seal(opened.value, active, { version: opened.version, until: untilOf(ttlSeconds) });
    };
    const touched = await this.inner.touch(active, ttlSeconds, reseal);
    if (touched !== undefined) return { version: version!, ttl: touched.ttl };
    if (refused) return undefined;
    for (const from of others) {
      const found = await this.inner.get(from);
      if (found === undefined) continue;
      // A copy that does not open is a missing session: not moved, not touched.
      const opened = this.open(keys, found.value, from, found);
      if (opened === undefined) return undefined;
      const moved = await this.inner.relocate(from, active, this.resealer(keys, from, active, opened.version, untilOf(ttlSeconds)), ttlSeconds, reseal);
      return moved === undefined ? undefined : { version: version ?? opened.version, ttl: moved.ttl };
    }
    return undefined;
  }

  delete(key: string): Promise<void> {
    return this.inner.deleteAll(this.copies(this.keys(), key));
  }

  truncate(): Promise<void> {
    return this.inner.truncate();
  }

  /**
   * A copy opened: a sealed record (under the key its header names), or in migrate mode a
   * plain copy, whose version is the engine's (`plain`'s, asked for only then: the
   * engine may compute it on demand); undefined when it does not open (reported).
   */
  private open(keys: NamespaceKeys, record: Buffer, storageKey: string, plain: { readonly version: string } | undefined): Opened | undefined {
    if (!storageKey.startsWith(STORAGE_KEY_PREFIX)) return { value: record, version: plain?.version ?? freshSeal(0).version, until: 0 };
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
    return opened;
  }

  /** Bytes under `from` re-sealed for `to` under the active key, keeping `version`; a record that does not open is not moved. */
  private resealer(keys: NamespaceKeys, from: string, to: string, version: string, until: number): (record: Buffer) => Buffer {
    return (record) => {
      const opened = this.open(keys, record, from, { version });
      if (opened === undefined) throw new StorageError('corrupt', 'a sealed record under an older key does not open');
      return keys.active.seal(opened.value, to, { version, until });
    };
  }

  /** Move the first copy found among `candidates` to `to`, keeping its version and remaining lifetime; false if none was. */
  private async moveFirstFound(keys: NamespaceKeys, candidates: readonly string[], to: string): Promise<boolean> {
    for (const from of candidates) {
      const found = await this.inner.get(from);
      if (found === undefined) continue;
      const opened = this.open(keys, found.value, from, found);
      if (opened === undefined) return false;
      const moved = await this.inner.relocate(from, to, this.resealer(keys, from, to, opened.version, opened.until), found.ttl ?? 0);
      return moved !== undefined;
    }
    return false;
  }

  /** Remove the copies that exist among `keys` (reads first: during a rotation most are already gone). */
  private async removeCopies(keys: readonly string[]): Promise<void> {
    for (const key of keys) if ((await this.inner.get(key)) !== undefined) await this.inner.delete(key);
  }
}
