/**
 * A config problem, named the one way every part of Firkin names it: the config
 * file, the dotted key, and (when the problem is with a file that key names, such as
 * a TLS key) that file. `firkin check-config` and `firkin serve` print its message as
 * one line and exit 2. Here, below everything, so that config/ and the modules that
 * read files the config names raise the same error without importing each other.
 */
export class ConfigError extends Error {
  constructor(
    readonly file: string | undefined,
    readonly key: string | undefined,
    readonly problem: string,
    readonly target?: string,
  ) {
    const where = key === undefined ? '' : `: ${key}${target === undefined ? '' : ` (${target})`}`;
    super(`config error in ${file ?? '(built-in defaults)'}${where}: ${oneLine(problem)}`);
    this.name = 'ConfigError';
  }
}

function oneLine(s: string): string {
  return s.replace(/\s+/g, ' ').trim();
}
