/**
 * Session keys are credentials: every key a test sends through the HTTP helpers
 * is remembered, and every log a test collects (in-process services, spawned
 * processes) is checked for them when the test file ends. One key in a log line
 * fails the file.
 */
import assert from 'node:assert/strict';

const keys = new Set<string>();
const logs: { readonly where: string; readonly lines: readonly string[] }[] = [];

/** Keys shorter than this are words a log line may contain by chance ("k", "alpha"). */
const MIN_KEY_LENGTH = 12;

/** Remember the key of a request URL under a namespace (a path with a /v1/ segment). */
export function rememberKeyOf(url: string): void {
  const path = url.replace(/^[a-z]+:\/\/[^/]+/i, '').split('?')[0]!;
  const m = /\/v1\/([^/]+)$/.exec(path);
  if (!m) return;
  let key: string;
  try {
    key = decodeURIComponent(m[1]!);
  } catch {
    return;
  }
  if (key.length >= MIN_KEY_LENGTH && /[0-9:]/.test(key)) keys.add(key);
}

export function watchLog(where: string, lines: readonly string[]): void {
  logs.push({ where, lines });
}

export function assertNoKeysInLogs(): void {
  for (const { where, lines } of logs) {
    const text = lines.join('\n');
    for (const key of keys) {
      assert.ok(!text.includes(key), `a session key appears in the log of ${where}`);
      const encoded = encodeURIComponent(key);
      if (encoded !== key) assert.ok(!text.includes(encoded), `a percent-encoded session key appears in the log of ${where}`);
    }
  }
}

/** For the helper's own test: check a log against the keys, without keeping either. */
export function findKeysIn(lines: readonly string[], candidates: readonly string[]): string[] {
  const before = new Set(keys);
  for (const c of candidates) rememberKeyOf(c);
  const found = [...keys].filter((k) => lines.join('\n').includes(k) || lines.join('\n').includes(encodeURIComponent(k)));
  keys.clear();
  for (const k of before) keys.add(k);
  return found;
}
