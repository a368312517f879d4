/**
 * Request headers that change what a request does: conditional headers
 * (If-Match, If-None-Match) and a write's `Cache-Control: max-age`.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Condition } from '../storage/engine.js';

export type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly detail: string };

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const bad = (detail: string): Parsed<never> => ({ ok: false, detail });
/** The answers for a field a request does not carry (no condition, no max-age), made once: every request asks. */
const ABSENT: Parsed<undefined> = Object.freeze({ ok: true, value: undefined });
const PROCEED: Parsed<ReadPrecondition> = Object.freeze({ ok: true, value: 'proceed' });

/** `"version"` for a stored version. */
export function etagOf(version: string): string {
  return `"${version}"`;
}

/** An If-Match / If-None-Match field: `*`, or a list of entity-tags (weak ones marked). */
type EtagList = { readonly any: true } | { readonly any: false; readonly strong: readonly string[]; readonly weak: readonly string[] };

const ETAG = /^(W\/)?"([\x21\x23-\x7e\x80-\xff]*)"$/;

function parseEtagList(field: string, name: string): Parsed<EtagList> {
  const trimmed = field.trim();
  if (trimmed === '*') return ok({ any: true });
  const strong: string[] = [];
  const weak: string[] = [];
  for (const part of trimmed.split(',')) {
    const tag = part.trim();
    if (tag === '') continue; // empty list elements are allowed by RFC 9110
    const m = ETAG.exec(tag);
    if (!m) return bad(`${name} must be * or a list of quoted entity-tags`);
    (m[1] ? weak : strong).push(m[2]!);
  }
  if (strong.length + weak.length === 0) return bad(`${name} is empty`);
  return ok({ any: false, strong, weak });
}

function single(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

/** The condition a write's headers ask for (undefined: unconditional). */
export function writeCondition(headers: IncomingHttpHeaders): Parsed<Condition | undefined> {
  const ifMatch = single(headers, 'if-match');
  const ifNoneMatch = single(headers, 'if-none-match');
  if (ifMatch !== undefined && ifNoneMatch !== undefined) return bad('If-Match and If-None-Match cannot be combined');
  if (ifNoneMatch !== undefined) {
    if (ifNoneMatch.trim() !== '*') return bad('On a write, If-None-Match must be *');
    return ok({ kind: 'absent' });
  }
  if (ifMatch !== undefined) {
    const list = parseEtagList(ifMatch, 'If-Match');
    if (!list.ok) return list;
    if (list.value.any) return ok({ kind: 'present' });
    // If-Match uses the strong comparison: a weak entity-tag never matches.
    return ok({ kind: 'version', versions: list.value.strong });
  }
  return ABSENT;
}

export type ReadPrecondition = 'proceed' | 'not-modified' | 'failed';

/** RFC 9110 §13.2.2 for a GET or HEAD, given the current version (undefined: absent). */
export function readPrecondition(headers: IncomingHttpHeaders, currentVersion: string | undefined): Parsed<ReadPrecondition> {
  const ifMatch = single(headers, 'if-match');
  const ifNoneMatch = single(headers, 'if-none-match');
  if (ifMatch !== undefined && ifNoneMatch !== undefined) return bad('If-Match and If-None-Match cannot be combined');
  if (ifMatch !== undefined) {
    const list = parseEtagList(ifMatch, 'If-Match');
    if (!list.ok) return list;
    const holds = currentVersion !== undefined && (list.value.any || list.value.strong.includes(currentVersion));
    return ok(holds ? 'proceed' : 'failed');
  }
  if (ifNoneMatch !== undefined) {
    const list = parseEtagList(ifNoneMatch, 'If-None-Match');
    if (!list.ok) return list;
    // If-None-Match uses the weak comparison.
    const matches =
      currentVersion !== undefined &&
      (list.value.any || list.value.strong.includes(currentVersion) || list.value.weak.includes(currentVersion));
    return ok(matches ? 'not-modified' : 'proceed');
  }
  return PROCEED;
}

/**
 * The client's requested lifetime from `Cache-Control: max-age=N`, or undefined when
 * absent. Other directives are ignored; a malformed, repeated or zero max-age is refused.
 */
export function requestedMaxAge(headers: IncomingHttpHeaders): Parsed<number | undefined> {
  const field = single(headers, 'cache-control');
  if (field === undefined) return ABSENT;
  let maxAge: number | undefined;
  for (const part of field.split(',')) {
    const directive = part.trim();
    const eq = directive.indexOf('=');
    const name = (eq === -1 ? directive : directive.slice(0, eq)).trim().toLowerCase();
    if (name !== 'max-age') continue;
    if (maxAge !== undefined) return bad('Cache-Control has more than one max-age');
    let value = eq === -1 ? '' : directive.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    if (!/^[0-9]{1,20}$/.test(value)) return bad('Cache-Control max-age must be a whole number of seconds');
    maxAge = Number(value);
    if (maxAge === 0) return bad('Cache-Control max-age must be at least 1 second');
  }
  return ok(maxAge);
}
