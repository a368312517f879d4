/**
 * The namespaces part of the config: the list (one implicit `default`, or the
 * `namespaces:` entries), who may use each (typed certificate identities and
 * token hashes, also for `admin:`), and the rules that keep namespaces apart.
 */
import { IDENTITY_KINDS, typedIdentity, type IdentityKind } from '../base/identity.js';
import type { AccessConfig, NamespaceConfig, Operation, Sealing } from './types.js';
import { OPERATIONS, type ConfigFile } from './schema.js';

type Fail = (key: string, problem: string) => never;

/** Paths Firkin itself serves; no namespace may claim them. */
const RESERVED_PATHS = ['/healthz', '/readyz', '/metrics', '/openapi', '/admin'];

export interface NamespaceDefaults {
  /** The base URI of the implicit namespace when `base_uri` is not set. */
  readonly defaultBaseUri: string;
  /** The top-level (or built-in) `default_ttl`. */
  readonly defaultTtl: number;
  /** The Cassandra table of the first namespace (`cassandra.table`, as in Kask). */
  readonly firstTable: string;
  /** `tls.ca` is set: certificate identities can be checked. */
  readonly mutualTls: boolean;
  readonly fail: Fail;
  /** Start-up warnings are added here. */
  readonly warnings: string[];
}

/** The resolved namespaces, checked against each other and the service's own paths. */
export function resolveNamespaces(c: ConfigFile, d: NamespaceDefaults): NamespaceConfig[] {
  const { fail } = d;
  if (c.namespaces !== undefined && c.base_uri !== undefined) {
    fail('base_uri', 'set base_uri on each namespace, not at the top level, when namespaces are listed');
  }
  const namespaces: NamespaceConfig[] =
    c.namespaces === undefined
      ? [
          {
            name: 'default',
            baseUri: normaliseBase(c.base_uri ?? d.defaultBaseUri),
            defaultTtl: d.defaultTtl,
            table: d.firstTable,
            access: undefined,
            rateLimit: undefined,
            conditionalWrites: c.conditional_writes ?? false,
            serialConsistency: c.serial_consistency ?? 'local_serial',
            sealing: sealingOf(c.sealed),
          },
        ]
      : c.namespaces.map((ns, i) => {
          if (ns.clients !== undefined && !d.mutualTls) fail(`namespaces.${i}.clients`, 'client certificate identities need mutual TLS (tls.ca)');
          return {
            name: ns.name,
            baseUri: normaliseBase(ns.base_uri),
            defaultTtl: ns.default_ttl ?? d.defaultTtl,
            table: ns.table ?? (i === 0 ? d.firstTable : ns.name),
            access: resolveAccess(`namespaces.${i}`, ns.clients, ns.tokens, fail, d.warnings),
            rateLimit:
              ns.rate_limit === undefined
                ? undefined
                : { perSecond: ns.rate_limit.requests_per_second, burst: ns.rate_limit.burst ?? Math.max(1, Math.ceil(ns.rate_limit.requests_per_second)) },
            conditionalWrites: ns.conditional_writes ?? c.conditional_writes ?? false,
            serialConsistency: ns.serial_consistency ?? c.serial_consistency ?? 'local_serial',
            sealing: sealingOf(ns.sealed ?? c.sealed),
          };
        });
  checkNamespaces(namespaces, c.namespaces !== undefined, fail);
  return namespaces;
}

/** `sealed:` as configured (true, false, migrate) → the namespace's sealing. */
function sealingOf(value: boolean | 'migrate' | undefined): Sealing {
  return value === 'migrate' ? 'migrate' : value === true ? 'sealed' : 'plain';
}

type ClientEntry = string | { readonly identity: string; readonly operations?: readonly Operation[] | undefined };
type TokenEntry = { readonly name: string; readonly sha256: string; readonly operations?: readonly Operation[] | undefined };

/**
 * Who may use a namespace (`key`: `namespaces.N`) or the admin endpoints (`admin`):
 * undefined when neither clients nor tokens are listed. An entry without
 * `operations` may do all three.
 */
export function resolveAccess(
  key: string,
  clients: readonly ClientEntry[] | undefined,
  tokens: readonly TokenEntry[] | undefined,
  fail: Fail,
  warnings: string[],
): AccessConfig | undefined {
  if (clients === undefined && tokens === undefined) return undefined;
  const all = [...OPERATIONS];
  return {
    clients: (clients ?? []).flatMap((entry, j) => {
      const at = `${key}.clients.${j}`;
      const [value, where, operations] = typeof entry === 'string' ? [entry, at, all] : [entry.identity, `${at}.identity`, entry.operations ?? all];
      return typedIdentities(where, value, fail, warnings).map((identity) => ({ identity, operations: [...operations] }));
    }),
    tokens: (tokens ?? []).map((t) => ({ name: t.name, sha256: t.sha256, operations: [...(t.operations ?? all)] })),
  };
}

/**
 * A configured client identity as the typed identities it matches: `cn:x`, `dns:x`
 * or `uri:x` (prefix in any case) as itself; a bare `x` as all three, with a warning.
 */
function typedIdentities(key: string, value: string, fail: Fail, warnings: string[]): string[] {
  const m = /^([a-z]+):(.*)$/is.exec(value);
  const kind = m?.[1]!.toLowerCase();
  if (m !== null && IDENTITY_KINDS.includes(kind as IdentityKind)) {
    if (m[2] === '') fail(key, `names no identity after ${kind}:`);
    return [typedIdentity(kind as IdentityKind, m[2]!)];
  }
  warnings.push(`${key}: ${JSON.stringify(value)} matches subject CN, SAN DNS and SAN URI alike; write cn:, dns: or uri: to say which`);
  return IDENTITY_KINDS.map((k) => typedIdentity(k, value));
}

function checkNamespaces(namespaces: readonly NamespaceConfig[], listed: boolean, fail: Fail): void {
  const keyOf = (i: number, field: string): string => (listed ? `namespaces.${i}.${field}` : field);
  namespaces.forEach((ns, i) => {
    if (ns.baseUri === '/') fail(keyOf(i, 'base_uri'), 'must not be /: it would shadow the service endpoints');
    for (const reserved of RESERVED_PATHS) {
      if (ns.baseUri.startsWith(`${reserved}/`)) fail(keyOf(i, 'base_uri'), `${reserved} is reserved for the service itself`);
    }
    namespaces.slice(0, i).forEach((other) => {
      if (other.name === ns.name) fail(keyOf(i, 'name'), `duplicate namespace name ${ns.name}`);
      if (ns.baseUri.startsWith(other.baseUri) || other.baseUri.startsWith(ns.baseUri)) {
        fail(keyOf(i, 'base_uri'), `${ns.baseUri} overlaps ${other.baseUri} of namespace ${other.name}`);
      }
      if (other.table === ns.table) fail(keyOf(i, 'table'), `table ${ns.table} is already used by namespace ${other.name}`);
    });
  });
}

/** As Kask: ensure a leading and a trailing slash. */
function normaliseBase(uri: string): string {
  let base = uri.startsWith('/') ? uri : `/${uri}`;
  if (!base.endsWith('/')) base += '/';
  return base;
}
