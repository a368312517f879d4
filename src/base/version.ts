import { readFileSync } from 'node:fs';

let cached: string | undefined;

/** Firkin's version, from package.json (this file runs from dist/src/base/), read on first use. */
export function version(): string {
  cached ??= (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  return cached;
}
