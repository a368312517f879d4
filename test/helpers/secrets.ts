/**
 * Session keys and tokens are credentials: every key a test sends through the
 * HTTP helpers is remembered, and so is every Authorization header's credential
 * (a bearer token, right or wrong); every log a test collects (in-process
 * services, spawned processes) is checked for them when the test file ends. One
 * key or token in a log line fails the file.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';

const keys = new Set<string>();
const credentials = new Set<string>();
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

/** The credential of an Authorization header (`Bearer <token>` gives the token), if it is long enough to track. */
function credentialOf(authorization: unknown): string | undefined {
  if (typeof authorization !== 'string') return undefined;
  const credential = authorization.replace(/^\S+\s+/, '');
  return credential.length >= MIN_KEY_LENGTH ? credential : undefined;
}

/** Remember the credential of an Authorization header a test sends. */
export function rememberCredentialOf(authorization: unknown): void {
  const credential = credentialOf(authorization);
  if (credential !== undefined) credentials.add(credential);
}

export function watchLog(where: string, lines: readonly string[]): void {
  logs.push({ where, lines });
}

export function assertNoSecretsInLogs(): void {
  for (const { where, lines } of logs) {
    const text = lines.join('\n');
    const leaked = leakedKeys(text, keys);
    assert.equal(leaked.length, 0, `${leaked.length} session key(s) appear in the log of ${where}`);
    const tokens = [...credentials].filter((c) => text.includes(c)).length; // never printed: they are the secrets
    assert.equal(tokens, 0, `${tokens} token(s) sent in an Authorization header appear in the log of ${where}`);
  }
}

/** For the helper's own test: the keys of `urls` that `lines` hold, by the same rules as the check. */
export function findKeysIn(lines: readonly string[], urls: readonly string[]): string[] {
  return leakedKeys(lines.join('\n'), urls.map(keyOf).filter((k): k is string => k !== undefined));
}

/** For the helper's own test: the credentials of `authorizations` that `lines` hold, by the same rules as the check. */
export function findCredentialsIn(lines: readonly string[], authorizations: readonly string[]): string[] {
  const text = lines.join('\n');
  return authorizations.map(credentialOf).filter((c): c is string => c !== undefined && text.includes(c));
}

/** The SHA-256 of a token, as namespaces[].tokens[].sha256 holds it. */
export function tokenHash(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}
