/**
 * From a raw request target to (namespace, key): the whole of Firkin's routing.
 *
 * The key is the single path segment after a namespace's base URI, percent-decoded
 * as UTF-8, so `/` inside a key travels as `%2F`. The raw target is checked before
 * it is decoded, the decoded key after; nothing here echoes the key back.
 */
import { PROBLEMS, type ProblemType } from './problem.js';

export type Target<N> =
  | { readonly ok: true; readonly namespace: N; readonly key: string }
  | { readonly ok: false; readonly problem: ProblemType; readonly detail?: string };

export interface Routable {
  readonly baseUri: string;
}

/** C0 controls and DEL: a key never needs them, and logs and terminals mishandle them. */
const CONTROL = /[\x00-\x1f\x7f]/;

export class Router<N extends Routable> {
  /** Longest base first, though config forbids overlapping bases. */
  private readonly namespaces: readonly N[];

  constructor(
    namespaces: readonly N[],
    private readonly maxKeyBytes: number,
  ) {
    this.namespaces = [...namespaces].sort((a, b) => b.baseUri.length - a.baseUri.length);
  }

  /** The 414's detail: the limit (max_key_bytes) and how the key passed it (never the key itself). */
  private tooLong(how: string): string {
    return `The key exceeds max_key_bytes, ${this.maxKeyBytes} bytes of UTF-8 (at most ${this.maxKeyBytes * 3} characters percent-encoded): ${how}`;
  }

  /** The namespace whose base URI prefixes `path`, if any. */
  namespaceOf(path: string): N | undefined {
    for (const ns of this.namespaces) if (path.startsWith(ns.baseUri)) return ns;
    return undefined;
  }

  parse(rawUrl: string): Target<N> {
    const q = rawUrl.indexOf('?');
    const path = q === -1 ? rawUrl : rawUrl.slice(0, q);
    const namespace = this.namespaceOf(path);
    if (namespace === undefined) return { ok: false, problem: PROBLEMS.noRoute };
    if (q !== -1) return { ok: false, problem: PROBLEMS.badRequest, detail: 'Query strings are not accepted' };

    const raw = path.slice(namespace.baseUri.length);
    if (raw === '') return { ok: false, problem: PROBLEMS.notFound, detail: 'The path names no key' };
    // One pass over the raw segment (no regular expression on the hot path, issue 24).
    let slash = false;
    let unprintable = false;
    let escaped = false;
    for (let i = 0; i < raw.length; i++) {
      const c = raw.charCodeAt(i);
      if (c === 0x2f) slash = true;
      else if (c === 0x25) escaped = true;
      else if (c < 0x21 || c > 0x7e) unprintable = true; // printable ASCII only: raw bytes outside it have no place in a target
    }
    if (slash) return { ok: false, problem: PROBLEMS.notFound, detail: 'The path has segments after the key' };
    // Every byte of a key is at most three characters (%XX) in the target.
    if (raw.length > this.maxKeyBytes * 3) return { ok: false, problem: PROBLEMS.keyTooLong, detail: this.tooLong(`its part of the request target is longer than ${this.maxKeyBytes * 3} characters`) };
    if (unprintable) return { ok: false, problem: PROBLEMS.badRequest, detail: 'The key must be percent-encoded printable ASCII' };
    // Unescaped, the key is the segment: printable ASCII, a byte a character.
    if (!escaped) {
      if (raw.length > this.maxKeyBytes) return { ok: false, problem: PROBLEMS.keyTooLong, detail: this.tooLong(`it is ${raw.length} bytes long`) };
      return { ok: true, namespace, key: raw };
    }
    let key: string;
    try {
      key = decodeURIComponent(raw);
    } catch {
      return { ok: false, problem: PROBLEMS.badRequest, detail: 'The key is not valid percent-encoded UTF-8' };
    }
    if (CONTROL.test(key)) return { ok: false, problem: PROBLEMS.badRequest, detail: 'The key contains a control character' };
    const bytes = Buffer.byteLength(key, 'utf8');
    if (bytes > this.maxKeyBytes) return { ok: false, problem: PROBLEMS.keyTooLong, detail: this.tooLong(`it is ${bytes} bytes long`) };
    return { ok: true, namespace, key };
  }
}
