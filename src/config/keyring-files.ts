/**
 * The keyring's key files (`keyring.keys[].file`): each holds 32 random bytes, as
 * `firkin keys generate` writes them (raw), or as 64 hex digits or 43/44 base64
 * characters (with or without a final newline). Read and checked the one way
 * `serve`, `check-config` and `keys status` use them: a file that cannot be read, that
 * group or others may read, or that does not hold exactly 32 bytes is refused with a
 * ConfigError naming the key and the file (exit 2). The bytes never appear in an
 * error, a log line or any output.
 *
 * A path may start with `$CREDENTIALS_DIRECTORY/` (or `${CREDENTIALS_DIRECTORY}/`):
 * systemd's `LoadCredential=` puts the service's credentials there.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../base/config-error.js';
import type { FirkinConfig, KeyringConfig } from './types.js';

/** Bytes of a keyring key. */
export const KEY_BYTES = 32;

export interface KeyMaterial {
  readonly id: string;
  readonly secret: Buffer;
}

/** A key file's path with `$CREDENTIALS_DIRECTORY` filled in; undefined when it names the variable but it is not set. */
export function keyPath(file: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const m = /^\$(?:\{CREDENTIALS_DIRECTORY\}|CREDENTIALS_DIRECTORY)(\/.*)?$/.exec(file);
  if (m === null) return file;
  const dir = env.CREDENTIALS_DIRECTORY;
  return dir === undefined || dir === '' ? undefined : join(dir, m[1] ?? '');
}

/** The bytes a key file holds, decoded; undefined when they are no key of 32 bytes. */
export function decodeKey(data: Buffer): Buffer | undefined {
  if (data.length === KEY_BYTES) return Buffer.from(data);
  const text = data.toString('latin1').trim();
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, 'hex');
  if (/^[A-Za-z0-9+/_-]{43}={0,1}$/.test(text)) {
    const bytes = Buffer.from(text.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
    if (bytes.length === KEY_BYTES) return bytes;
  }
  return undefined;
}

/** Every key of the keyring, read and checked; a ConfigError names the first that cannot be used. */
export function readKeyring(keyring: KeyringConfig, configFile: string | undefined, env: NodeJS.ProcessEnv = process.env): KeyMaterial[] {
  return keyring.keys.map((k, i) => {
    const key = `keyring.keys.${i}.file`;
    const path = keyPath(k.file, env);
    const fail = (problem: string): never => {
      throw new ConfigError(configFile, key, problem, path ?? k.file);
    };
    if (path === undefined) fail('names $CREDENTIALS_DIRECTORY, which is not set (systemd sets it for LoadCredential=)');
    let mode: number;
    try {
      const st = statSync(path!);
      if (!st.isFile()) fail('is not a regular file');
      mode = st.mode & 0o777;
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      return fail(`cannot read the file (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    if ((mode & 0o077) !== 0) {
      fail(`group or others may read or write it (mode ${mode.toString(8).padStart(4, '0')}): chmod 600 it (systemd's LoadCredential= gives 0400)`);
    }
    let data: Buffer;
    try {
      data = readFileSync(path!);
    } catch (err) {
      return fail(`cannot read the file (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    const secret = decodeKey(data);
    data.fill(0);
    if (secret === undefined) fail(`does not hold a key of ${KEY_BYTES} bytes (raw, 64 hex digits or base64): make one with \`firkin keys generate FILE\``);
    return { id: k.id, secret: secret! };
  });
}

/** The keyring of `config`, if it has one, read as `serve` reads it (for check-config). */
export function checkKeyring(config: Pick<FirkinConfig, 'file' | 'keyring'>): void {
  if (config.keyring !== undefined) readKeyring(config.keyring, config.file);
}
