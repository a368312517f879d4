/**
 * Session keys are credentials: every key a test sends through the HTTP helpers
 * is remembered, and every log a test collects (in-process services, spawned
 * processes) is checked for them when the test file ends. One key in a log line
 * fails the file.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';

const keys = new Set<string>();
const logs: { readonly where: string; readonly lines: readonly string[] }[] = [];

/** Keys shorter than this are words a log line may contain by chance ("k", "alpha"). */
const MIN_KEY_LENGTH = 12;

/** The key of a request URL under a namespace (a path with a /v1/ segment), if it is long enough to track. */
function keyOf(url: string): string | undefined {
  const path = url.replace(/^[a-z]+:\/\/[^/]+/i, '').split('?')[0]!;
  const m = /\/v1\/([^/]+)$/.exec(path);
  if (!m) return undefined;
  let key: string;
  try {
    key = decodeURIComponent(m[1]!);
  } catch {
    return undefined;
  }
  return key.length >= MIN_KEY_LENGTH && /[0-9:]/.test(key) ? key : undefined;
}

/** The keys that `text` holds, in clear or percent-encoded. */
function leakedKeys(text: string, candidates: Iterable<string>): string[] {
  return [...candidates].filter((k) => text.includes(k) || text.includes(encodeURIComponent(k)));
}

/** Remember the key of a request URL under a namespace. */
export function rememberKeyOf(url: string): void {
  const key = keyOf(url);
  if (key !== undefined) keys.add(key);
}

export function watchLog(where: string, lines: readonly string[]): void {
  logs.push({ where, lines });
}

export function assertNoKeysInLogs(): void {
  for (const { where, lines } of logs) {
    const leaked = leakedKeys(lines.join('\n'), keys);
    assert.equal(leaked.length, 0, `${leaked.length} session key(s) appear in the log of ${where}`);
  }
}

/** For the helper's own test: the keys of `urls` that `lines` hold, by the same rules as the check. */
export function findKeysIn(lines: readonly string[], urls: readonly string[]): string[] {
  return leakedKeys(lines.join('\n'), urls.map(keyOf).filter((k): k is string => k !== undefined));
}

/** The SHA-256 of a token, as namespaces[].tokens[].sha256 holds it. */
export function tokenHash(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}
