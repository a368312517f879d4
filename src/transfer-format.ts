/**
 * The stream `firkin export` writes and `firkin import` reads (docs/export-format.md):
 * newline-delimited JSON, UTF-8, one object per line.
 *
 *   {"firkin-export":1,"at":1767225600123,"created":"2026-01-01T00:00:00.123Z","firkin":"0.1.0","source":"embedded","namespaces":[{"name":"sessions","sealed":false}]}
 *   {"ns":"sessions","key":"enwiki:MWSession:abc","value":"aGVsbG8=","ttl":3599.877}
 *   {"ns":"sessions","key":"k2","value":"d29ybGQ=","ttl":null}
 *   {"firkin-export-end":1,"records":2}
 *
 * The header names the format version (`firkin-export`), the moment every `ttl` counts
 * from (`at`, milliseconds since the epoch) and the namespaces the stream may hold, each
 * with whether its records are sealed (the storage key and the sealed record as stored:
 * docs/security.md, "Sealed namespaces"). A record is one live session: its namespace,
 * its key, its value in base64, and `ttl`, the seconds from `at` until it expires (to the
 * millisecond), or null: it never expires. The end line counts the records, so a stream
 * cut short anywhere is told from a whole one. A reader refuses (StreamRefused) another
 * version, a line that is not one of these, a stream without its end line and anything
 * after it.
 */
import { MAX_KEY_BYTES_CASSANDRA, MAX_VALUE_BYTES_LIMIT } from './config/schema.js';

/** The version this Firkin writes and reads. */
export const FORMAT_VERSION = 1;

/** The exit code of `firkin import` for a stream it refuses (another version, cut short, damaged). */
export const EXIT_STREAM_REFUSED = 4;

/**
 * The longest line a reader takes: the largest value Firkin can be configured to take, in
 * base64, with the longest key, every byte of it escaped. Longer is damage, and a reader
 * never holds more than one such line.
 */
export const MAX_LINE_BYTES = Math.ceil(MAX_VALUE_BYTES_LIMIT / 3) * 4 + 6 * MAX_KEY_BYTES_CASSANDRA + 4096;

export interface StreamNamespace {
  readonly name: string;
  /** Its records are sealed: storage keys and sealed records, as stored. */
  readonly sealed: boolean;
}

export interface StreamHeader {
  /** Milliseconds since the epoch: every record's `ttl` counts from then. */
  readonly at: number;
  /** The engine it was read from. */
  readonly source: string;
  /** The Firkin version that wrote it. */
  readonly firkin: string;
  readonly namespaces: readonly StreamNamespace[];
}

export interface StreamRecord {
  readonly ns: string;
  readonly key: string;
  readonly value: Buffer;
  /** Seconds from the header's `at` until it expires; null: never. */
  readonly ttl: number | null;
}

/** The input is not a whole stream of a version this Firkin reads. */
export class StreamRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StreamRefused';
  }
}

export function headerLine(header: StreamHeader): string {
  return `${JSON.stringify({
    'firkin-export': FORMAT_VERSION,
    at: header.at,
    created: new Date(header.at).toISOString(),
    firkin: header.firkin,
    source: header.source,
    namespaces: header.namespaces.map((ns) => ({ name: ns.name, sealed: ns.sealed })),
  })}\n`;
}

/** A record's line: `expiresAt` (ms since the epoch, or null) as seconds from the header's `at`. */
export function recordLine(ns: string, key: string, value: Buffer, expiresAt: number | null, at: number): string {
  const ttl = expiresAt === null ? null : Math.round(expiresAt - at) / 1000;
  return `${JSON.stringify({ ns, key, value: value.toString('base64'), ttl })}\n`;
}

export function endLine(records: number): string {
  return `${JSON.stringify({ 'firkin-export-end': FORMAT_VERSION, records })}\n`;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parseHeader(text: string): StreamHeader {
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch {
    o = undefined;
  }
  if (!isObject(o) || !('firkin-export' in o)) throw new StreamRefused('the input is not a firkin export stream: its first line is not a "firkin-export" header');
  const version = o['firkin-export'];
  if (version !== FORMAT_VERSION) {
    throw new StreamRefused(`the stream is of export format ${JSON.stringify(version)}; this Firkin reads format ${FORMAT_VERSION} only: import it with a Firkin that reads it, or export again with this one`);
  }
  const { at, namespaces, source, firkin } = o;
  const valid =
    typeof at === 'number' &&
    Number.isFinite(at) &&
    Array.isArray(namespaces) &&
    namespaces.every((ns) => isObject(ns) && typeof ns.name === 'string' && typeof ns.sealed === 'boolean');
  if (!valid) throw new StreamRefused('line 1, the stream\'s header, is damaged: it lacks "at" or "namespaces" of format 1');
  return {
    at,
    source: typeof source === 'string' ? source : 'unknown',
    firkin: typeof firkin === 'string' ? firkin : 'unknown',
    namespaces: (namespaces as { name: string; sealed: boolean }[]).map((ns) => ({ name: ns.name, sealed: ns.sealed })),
  };
}

function parseRecord(text: string, line: number, names: ReadonlySet<string>): StreamRecord | { end: number } {
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch {
    throw new StreamRefused(`line ${line} is not JSON: the stream is damaged`);
  }
  if (!isObject(o)) throw new StreamRefused(`line ${line} is not a record: the stream is damaged`);
  if ('firkin-export-end' in o) {
    if (o['firkin-export-end'] !== FORMAT_VERSION || typeof o.records !== 'number') throw new StreamRefused(`line ${line}, the end line, is damaged`);
    return { end: o.records };
  }
  const { ns, key, value, ttl } = o;
  if (typeof ns !== 'string' || typeof key !== 'string' || key === '' || typeof value !== 'string' || !(ttl === null || (typeof ttl === 'number' && Number.isFinite(ttl)))) {
    throw new StreamRefused(`line ${line} is not a record of format ${FORMAT_VERSION} (ns, key, value, ttl): the stream is damaged`);
  }
  if (!names.has(ns)) throw new StreamRefused(`line ${line} is a record of namespace ${JSON.stringify(ns)}, which the stream's header does not name: the stream is damaged`);
  if (value.length % 4 !== 0 || !BASE64.test(value)) throw new StreamRefused(`line ${line}: its value is not base64: the stream is damaged`);
  return { ns, key, value: Buffer.from(value, 'base64'), ttl };
}

/**
 * The longest line a target with these limits can take a record from: a value of
 * `maxValueBytes` (a sealed one with its header, under 256 bytes) in base64, a key of
 * `maxKeyBytes` (or a sealed storage key) every byte of it escaped, and room for the rest.
 */
export function lineLimitFor(maxValueBytes: number, maxKeyBytes: number): number {
  return Math.min(MAX_LINE_BYTES, Math.ceil((maxValueBytes + 256) / 3) * 4 + 6 * Math.max(maxKeyBytes, 128) + 4096);
}

/**
 * The lines of `input`, each without its newline, numbered from 1. A line longer than
 * `skipAbove` is not held: it is read past, and yielded with `text` undefined (a record
 * the reader's target could not take anyway). A line longer than MAX_LINE_BYTES, or input
 * that ends in the middle of a line, is refused.
 */
async function* lines(input: AsyncIterable<Buffer | string> | Iterable<Buffer | string>, skipAbove: number): AsyncGenerator<{ text: string | undefined; line: number }> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let skipping = false;
  let line = 0;
  for await (const piece of input) {
    let chunk = typeof piece === 'string' ? Buffer.from(piece, 'utf8') : piece;
    for (let nl = chunk.indexOf(10); nl !== -1; nl = chunk.indexOf(10)) {
      const head = chunk.subarray(0, nl);
      const length = pendingBytes + head.length;
      const whole = skipping || length > skipAbove ? undefined : pending.length === 0 ? head : Buffer.concat([...pending, head]);
      pending = [];
      pendingBytes = 0;
      skipping = false;
      chunk = chunk.subarray(nl + 1);
      line++;
      if (length > MAX_LINE_BYTES) throw new StreamRefused(`line ${line} is longer than ${MAX_LINE_BYTES} bytes: the stream is damaged`);
      yield { text: whole?.toString('utf8'), line };
    }
    if (chunk.length > 0) {
      pendingBytes += chunk.length;
      if (pendingBytes > MAX_LINE_BYTES) throw new StreamRefused(`line ${line + 1} is longer than ${MAX_LINE_BYTES} bytes: the stream is damaged`);
      if (pendingBytes > skipAbove) {
        skipping = true;
        pending = [];
      } else {
        pending.push(chunk);
      }
    }
  }
  if (pendingBytes > 0) throw new StreamRefused(`the stream ends in the middle of line ${line + 1}: it was cut short (truncated)`);
}

/** What a reader yields: the header first, then each record. */
export type StreamItem =
  | { readonly kind: 'header'; readonly header: StreamHeader }
  | { readonly kind: 'record'; readonly record: StreamRecord; readonly line: number }
  /** A record line longer than the reader's `skipAbove`: read past, counted, not parsed. */
  | { readonly kind: 'oversized'; readonly line: number };

/**
 * Read a stream: its header, then its records, checked line by line (a record line
 * longer than `skipAbove` is read past and yielded as 'oversized'); once the input
 * ends, it must have ended with the end line, whose count must match. Throws
 * StreamRefused otherwise (after yielding the records before the problem: a consumer
 * that acted on them learns only then that the stream was not whole).
 */
export async function* readStream(input: AsyncIterable<Buffer | string> | Iterable<Buffer | string>, skipAbove = MAX_LINE_BYTES): AsyncGenerator<StreamItem> {
  let names: Set<string> | undefined;
  let records = 0;
  let ended: number | undefined;
  for await (const { text, line } of lines(input, skipAbove)) {
    if (names === undefined) {
      if (text === undefined) throw new StreamRefused('the input is not a firkin export stream: its first line is far longer than a header');
      const header = parseHeader(text);
      names = new Set(header.namespaces.map((ns) => ns.name));
      yield { kind: 'header', header };
      continue;
    }
    if (ended !== undefined) throw new StreamRefused(`line ${line} follows the stream's end line: the stream is damaged`);
    if (text === undefined) {
      records++;
      yield { kind: 'oversized', line };
      continue;
    }
    const parsed = parseRecord(text, line, names);
    if ('end' in parsed) {
      if (parsed.end !== records) throw new StreamRefused(`the stream's end line counts ${parsed.end} records, but it held ${records}: records are missing`);
      ended = line;
      continue;
    }
    records++;
    yield { kind: 'record', record: parsed, line };
  }
  if (names === undefined) throw new StreamRefused('the input is empty: not a firkin export stream');
  if (ended === undefined) throw new StreamRefused(`the stream ends after ${records} records without its end line: it was cut short (truncated)`);
}
