/**
 * The keyring in use: each keyring key's two keys per namespace (sealing.ts), the
 * active one first. Replaced whole when SIGHUP brings a changed keyring, so a request
 * sees either the old keyring or the new one, never a mix.
 */
import type { KeyMaterial } from '../config/keyring-files.js';
import { NamespaceKey } from './sealing.js';

/** At most this many keys are tried for a lookup (the config allows 8). */
export const MAX_KEYS = 8;

/** One namespace's keys, the active one first. */
export interface NamespaceKeys {
  readonly active: NamespaceKey;
  /** Every key, the active one first. */
  readonly all: readonly NamespaceKey[];
  byId(id: string): NamespaceKey | undefined;
}

export class Keyring {
  private readonly namespaces = new Map<string, NamespaceKeys>();

  constructor(
    readonly active: string,
    private readonly keys: readonly KeyMaterial[],
  ) {
    if (!keys.some((k) => k.id === active)) throw new Error(`the active key ${active} is not in the keyring`);
    if (keys.length > MAX_KEYS) throw new Error(`a keyring holds at most ${MAX_KEYS} keys`);
  }

  /** The key ids, the active one first. */
  get ids(): string[] {
    return [this.active, ...this.keys.map((k) => k.id).filter((id) => id !== this.active)];
  }

  /** `namespace`'s keys, derived on first use. */
  forNamespace(namespace: string): NamespaceKeys {
    let keys = this.namespaces.get(namespace);
    if (keys === undefined) {
      const all = this.ids.map((id) => new NamespaceKey(id, this.keys.find((k) => k.id === id)!.secret, namespace));
      const byId = new Map(all.map((k) => [k.id, k]));
      keys = { active: all[0]!, all, byId: (id) => byId.get(id) };
      this.namespaces.set(namespace, keys);
    }
    return keys;
  }
}

/** The keyring every sealed namespace reads, swapped whole on SIGHUP. */
export class KeyringHolder {
  constructor(public current: Keyring) {}
}
