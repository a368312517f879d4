/**
 * Who may do what in a namespace (or the admin endpoints). A caller proves an
 * identity with a client certificate (mutual TLS: typed identities `cn:…`,
 * `dns:…`, `uri:…`, read at the handshake by the transport) or a bearer token (compared by SHA-256, in
 * constant time). Decisions:
 *   - no credentials where some are required: 401;
 *   - an unknown token: 401; a known identity not allowed here, or not for this operation: 403.
 * Without a client list or tokens, a namespace is open to whoever reaches the
 * listener, as in Kask; with mutual TLS (tls.ca), to any client certificate.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Right } from '../base/operations.js';
import type { RequestContext } from '../base/request.js';
import type { AccessConfig } from '../config/types.js';

/** What a decision looks at: the credentials the request carries. */
export type Credentials = Pick<RequestContext, 'headers' | 'peer'>;

/**
 * Allowed: `client` names the caller for the log (`cert:<typed identity>`, `token:<name>`);
 * `bucket` is its rate-limit key, what the caller cannot share with another: the
 * certificate itself (`cert:<SHA-256 fingerprint>`: a look-alike certificate with the same
 * names is another bucket) or the token (`token:<name>`); both undefined for an open namespace.
 */
export type AccessDecision =
  | { readonly allowed: true; readonly client: string | undefined; readonly bucket: string | undefined; readonly token?: string }
  | { readonly allowed: false; readonly status: 401 | 403; readonly detail: string };

/** `Authorization: Bearer <token>` (RFC 6750's token68 syntax). */
export const BEARER = /^Bearer ([A-Za-z0-9\-._~+/]+=*)$/i;

/** The challenge of a 401 where bearer tokens are taken. */
export const BEARER_CHALLENGE = 'Bearer realm="firkin"';

interface TokenEntry {
  readonly name: string;
  readonly hash: Buffer;
  readonly operations: ReadonlySet<Right>;
}

/** Every request to an open namespace gets the same answer. */
const OPEN: AccessDecision = { allowed: true, client: undefined, bucket: undefined };

/** A verified certificate's rate-limit key: the certificate itself. */
const certificateBucket = (peer: Credentials['peer']): string => `cert:${peer.fingerprint}`;

export class AccessPolicy {
  private readonly clients: ReadonlyMap<string, ReadonlySet<Right>>;
  private readonly tokens: readonly TokenEntry[];

  constructor(
    private readonly access: AccessConfig | undefined,
    /** Mutual TLS is on: an open namespace still needs a client certificate. */
    private readonly mutualTls: boolean,
    /** What is guarded, for the answers' detail. */
    private readonly what = 'this namespace',
  ) {
    const clients = new Map<string, Set<Right>>();
    // An identity listed twice (say `mediawiki` and `cn:mediawiki`) may do what either entry allows.
    for (const c of access?.clients ?? []) {
      const ops = clients.get(c.identity) ?? new Set<Right>();
      for (const op of c.operations) ops.add(op);
      clients.set(c.identity, ops);
    }
    this.clients = clients;
    this.tokens = (access?.tokens ?? []).map((t) => ({ name: t.name, hash: Buffer.from(t.sha256, 'hex'), operations: new Set(t.operations) }));
  }

  /** True if this namespace takes bearer tokens (401 answers then carry WWW-Authenticate: Bearer). */
  get takesTokens(): boolean {
    return this.tokens.length > 0;
  }

  /** True if every request is allowed without looking at credentials. */
  get open(): boolean {
    return this.access === undefined && !this.mutualTls;
  }

  decide(request: Credentials, operation: Right): AccessDecision {
    if (this.access === undefined && !this.mutualTls) return OPEN; // the default: nothing to look up
    const { identities } = request.peer;
    const authorization = request.headers.authorization;
    if (this.access === undefined) {
      return request.peer.verified
        ? { allowed: true, client: identities[0] === undefined ? undefined : `cert:${identities[0]}`, bucket: certificateBucket(request.peer) }
        : { allowed: false, status: 401, detail: 'A client certificate is required' };
    }

    let known: string | undefined;
    for (const id of identities) {
      const ops = this.clients.get(id);
      if (ops === undefined) continue;
      if (ops.has(operation)) return { allowed: true, client: `cert:${id}`, bucket: certificateBucket(request.peer) };
      known ??= id;
    }
    if (authorization !== undefined) {
      const token = BEARER.exec(authorization)?.[1];
      const entry = token === undefined ? undefined : this.findToken(token);
      if (entry?.operations.has(operation)) return { allowed: true, client: `token:${entry.name}`, bucket: `token:${entry.name}`, token: entry.name };
      if (entry !== undefined) return { allowed: false, status: 403, detail: `This client may not ${operation} in ${this.what}` };
      if (known === undefined && identities.length === 0) {
        return { allowed: false, status: 401, detail: 'The bearer token is not valid here' };
      }
    }
    if (known !== undefined) return { allowed: false, status: 403, detail: `This client may not ${operation} in ${this.what}` };
    // A verified certificate (identities are recorded only for those) that is not listed here.
    if (request.peer.verified) return { allowed: false, status: 403, detail: `This client may not use ${this.what}` };
    const needed = !this.mutualTls ? 'A bearer token' : this.takesTokens ? 'A client certificate or bearer token' : 'A client certificate';
    return { allowed: false, status: 401, detail: `${needed} is required` };
  }

  /** Every configured hash is compared, in constant time, whatever matches. */
  private findToken(token: string): TokenEntry | undefined {
    const hash = createHash('sha256').update(token).digest();
    let found: TokenEntry | undefined;
    for (const entry of this.tokens) {
      if (timingSafeEqual(hash, entry.hash) && found === undefined) found = entry;
    }
    return found;
  }
}
