import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { assertNoSecretsInLogs } from './secrets.js';

const cleanups: Array<() => unknown> = [];
// Registered when this module is first imported, at the top level of a test file:
// it runs once every test of that file has finished, in reverse order of registration.
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  // Last of all, with every service stopped: no session key or token reached any log of this file.
  assertNoSecretsInLogs();
});

/** Run `cleanup` when the test file finishes (whatever scope the caller is in). */
export function atFileEnd(cleanup: () => unknown): void {
  cleanups.push(cleanup);
}

/** A fresh directory, removed when the test file finishes. */
export function tempDir(prefix = 'firkin-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  atFileEnd(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
