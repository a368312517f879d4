/**
 * Start-up check of the files that hold secrets: the config file (token hashes,
 * the Cassandra password) and the private keys. Each one that group or others may
 * read gets a warning; Firkin still starts (the operator may have reasons).
 */
import { statSync } from 'node:fs';
import type { FirkinConfig } from './types.js';

export interface LooseFile {
  readonly file: string;
  /** Permission bits in octal, e.g. `0644`. */
  readonly mode: string;
  /** The warning line. */
  readonly message: string;
}

/** The secret-holding files of `config` that group or others may read. Files that cannot be stat'ed are skipped. */
export function looseFiles(config: FirkinConfig): LooseFile[] {
  const candidates: [what: string, file: string | undefined, why: string][] = [
    ['config file', config.file, 'it may hold secrets'],
    ['tls.key', config.tls?.key, 'it is a private key'],
    ['cassandra.tls.key', config.cassandra?.tls?.key, 'it is a private key'],
  ];
  const loose: LooseFile[] = [];
  for (const [what, file, why] of candidates) {
    if (file === undefined) continue;
    let bits: number;
    try {
      bits = statSync(file).mode & 0o777;
    } catch {
      continue;
    }
    if ((bits & 0o044) === 0) continue;
    const mode = bits.toString(8).padStart(4, '0');
    loose.push({ file, mode, message: `${what} ${file} is readable by group or others (mode ${mode}); ${why}: chmod 600 it` });
  }
  return loose;
}

/** One warning line per secret-holding file that group or others may read. */
export function looseFileWarnings(config: FirkinConfig): string[] {
  return looseFiles(config).map((f) => f.message);
}
