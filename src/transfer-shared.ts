/**
 * Outgrowing one machine (docs/operations.md, "Moving to Cassandra (and back)" and
 * "Backups"):
 *
 *   firkin export --config FILE [--namespace NAME]   every live session, to stdout (transfer-format.ts)
 *   firkin import --config FILE [--namespace NAME]   that stream, from stdin, into the configured store
 *   firkin backup --config FILE DIR                  a consistent, compacted copy of a live embedded store
 *
 * All three work while the servers of both stores keep serving: export reads (the
 * embedded store opened read-only, Cassandra in paged SELECTs), import only adds (a key
 * holding a live value is left as it is), backup copies in one LMDB read transaction.
 * Memory is bounded: export holds one page of records, import one line and a bounded
 * number of writes in flight (at most 64, holding at most 16 MiB of records); both wait
 * for the pipe. Progress goes to stderr, once a second, when stderr is a terminal. On the
 * embedded engine each command first names the store it works on (a relative
 * `embedded.path` is resolved beside the config file outside systemd).
 *
 * Sealed namespaces: their storage keys are one-way keyed hashes of the clients' keys,
 * so no tool can give the sessions back in clear, keyring or not, and there is no
 * plaintext export. An export of a sealed namespace is refused unless the operator
 * says `--sealed-as-stored`; the stream then carries their records exactly as stored
 * (nothing in clear), and an import checks that each
 * one opens under the target's keyring (the same keys, the same namespace name) before
 * it stores it. A `migrate` namespace's plain copies (sessions stored before it was
 * sealed, still served) are sealed by the export under the active key, as a touch would
 * move them: nothing of a sealed namespace leaves in clear. A plain stream imported into
 * a `migrate` namespace is sealed on the way in, as a write seals a session, unless the
 * target holds a copy of the session already (under any key, or plain).
 */
import { once } from 'node:events';
import { join } from 'node:path';
import type { FirkinConfig, NamespaceConfig } from './config/types.js';
import { readKeyring } from './config/keyring-files.js';
import { Keyring } from './seal/keyring.js';

export const say = (line: string): void => void process.stderr.write(`firkin: ${line}\n`);

/** Counts on stderr once a second while stderr is a terminal; nothing otherwise. */
export class Progress {
  private readonly started = Date.now();
  private last = Date.now();
  private shown = false;
  constructor(private readonly what: string) {}

  update(count: number, detail = ''): void {
    if (process.stderr.isTTY !== true || Date.now() - this.last < 1000) return;
    this.last = Date.now();
    const rate = Math.round(count / Math.max(0.001, (this.last - this.started) / 1000));
    process.stderr.write(`\rfirkin ${this.what}: ${count} sessions, ${rate}/s${detail}\x1b[K`);
    this.shown = true;
  }

  done(): void {
    if (this.shown) process.stderr.write('\r\x1b[K');
  }
}

/** The namespaces a command works on: all configured, or `only`; undefined (said) if `only` is not configured. */
export function selected(config: FirkinConfig, only: string | undefined): readonly NamespaceConfig[] | undefined {
  if (only === undefined) return config.namespaces;
  const ns = config.namespaces.find((n) => n.name === only);
  if (ns === undefined) {
    say(`${config.file ?? 'the config'} has no namespace ${only} (it has ${config.namespaces.map((n) => n.name).join(', ')})`);
    return undefined;
  }
  return [ns];
}

export function keyringOf(config: FirkinConfig): Keyring {
  return new Keyring(config.keyring!.active, readKeyring(config.keyring!, config.file));
}

export const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
