/**
 * The resolved configuration: what the loader (load.ts) produces from the YAML file
 * and what the rest of the service reads. Types only: the file's own shape is schema.ts.
 */
import type { OPERATIONS, SyslogFacility } from './schema.js';

export type LogLevel = 'debug' | 'info' | 'warning' | 'error' | 'fatal';
export type Operation = (typeof OPERATIONS)[number];

/**
 * Who may use a namespace (or the admin endpoints): certificate identities and bearer
 * tokens, each with its operations. Identities are typed as identitiesOf() yields them
 * (`cn:…`, `dns:…`, `uri:…`); a bare configured value appears once per kind.
 */
export interface AccessConfig {
  readonly clients: readonly { readonly identity: string; readonly operations: readonly Operation[] }[];
  readonly tokens: readonly { readonly name: string; readonly sha256: string; readonly operations: readonly Operation[] }[];
}

export interface NamespaceConfig {
  readonly name: string;
  /** Always starts and ends with '/'. */
  readonly baseUri: string;
  /** Seconds; 0 means values never expire (as in Kask). */
  readonly defaultTtl: number;
  /** Cassandra table of this namespace. */
  readonly table: string;
  /** Undefined: no client list or token (anyone who reaches the listener; with tls.ca, any client certificate). */
  readonly access: AccessConfig | undefined;
  readonly rateLimit: { readonly perSecond: number; readonly burst: number } | undefined;
  /**
   * Cassandra: every write and delete runs as a lightweight transaction, and conditional
   * requests (If-Match, If-None-Match) are served; off (the default, Kask's fast path),
   * they are refused. The embedded engine serves conditions either way.
   */
  readonly conditionalWrites: boolean;
  /** Cassandra: the lightweight transactions' serial consistency. */
  readonly serialConsistency: 'local_serial' | 'serial';
  /**
   * `sealed`: keys hashed and values encrypted with the keyring before they reach storage;
   * `migrate`: sealed, reading plain copies too (and removing them as it writes); `plain`.
   */
  readonly sealing: Sealing;
}

export type Sealing = 'plain' | 'sealed' | 'migrate';

/** The keys sealed namespaces derive their own from (config/keyring-files.ts reads them). */
export interface KeyringConfig {
  /** The id of the key new records are sealed with. */
  readonly active: string;
  /** Every key records may be sealed with, the active one among them. */
  readonly keys: readonly { readonly id: string; readonly file: string }[];
}

export interface CassandraConfig {
  readonly hosts: readonly string[];
  readonly port: number;
  readonly keyspace: string;
  /** The driver's local data centre: LOCAL_QUORUM means a quorum here. */
  readonly localDc: string;
  /** Replicas per data centre, for `firkin schema`. */
  readonly replication: Readonly<Record<string, number>>;
  readonly queryTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly authentication: { readonly username: string; readonly password: string } | undefined;
  readonly tls:
    | {
        readonly ca: string;
        readonly cert: string | undefined;
        readonly key: string | undefined;
        readonly hostVerification: boolean;
      }
    | undefined;
}

/** Where log lines go: stdout unless a syslog destination is configured. */
export type LogDestinationConfig =
  | { readonly kind: 'stdout' }
  | { readonly kind: 'syslog-socket'; readonly path: string; readonly facility: SyslogFacility }
  | {
      readonly kind: 'syslog-server';
      readonly host: string;
      readonly port: number;
      readonly protocol: 'udp' | 'tcp';
      readonly facility: SyslogFacility;
    };

export interface InsightConfig {
  /** Length of one top-keys window. */
  readonly windowSeconds: number;
  /** Counters per window: the memory bound, whatever the number of keys. */
  readonly sketchSize: number;
  /** How many keys /admin/top-keys lists per window. */
  readonly topKeys: number;
  /** Fraction of writes an engine that cannot tell cheaply reads first, to count unchanged rewrites. */
  readonly compareSampleRate: number;
}

export interface FirkinConfig {
  /** The file it came from, or undefined for the built-in defaults. */
  readonly file: string | undefined;
  readonly serviceName: string;
  readonly listenAddress: string;
  readonly listenPort: number;
  readonly logLevel: LogLevel;
  readonly openapiSpec: string | undefined;
  /**
   * `ca`: mutual TLS, client certificates must be signed by it; `revoked`: a file of the
   * SHA-256 fingerprints of client certificates refused even so (re-read on SIGHUP).
   */
  readonly tls: { readonly cert: string; readonly key: string; readonly ca: string | undefined; readonly revoked: string | undefined } | undefined;
  readonly maxConnections: number;
  /** Connections one source (IPv4 address, IPv6 /64) may hold at once, per process. */
  readonly maxConnectionsPerSource: number;
  /** Worker processes (1: no cluster, the process serves itself). */
  readonly workers: number;
  readonly maxInFlight: number;
  /** Bytes of response bodies waiting to leave, per process. */
  readonly maxBufferedBytes: number;
  /** A response still not flushed this long after it was written closes its connection. */
  readonly writeTimeoutMs: number;
  /** How old a /metrics answer may be (overlapping scrapes share one collection). */
  readonly metricsMaxAgeMs: number;
  /**
   * The /admin endpoints: disabled, on the main listener, or on their own (`listen`, which
   * serves /metrics, /healthz and /readyz too; the main listener keeps /metrics unless
   * `metricsOnMainListener` is false); `access`: the admin clients and tokens (also the only
   * callers of /metrics when `authentication`).
   */
  readonly admin: {
    readonly enabled: boolean;
    readonly listen: { readonly address: string; readonly port: number } | undefined;
    readonly metricsOnMainListener: boolean;
    readonly access: AccessConfig | undefined;
  };
  /**
   * Authentication is configured (tls.ca, namespace tokens or admin credentials): /metrics
   * and /admin/* need an admin client, /openapi any valid credentials, /healthz shows details to admins only.
   */
  readonly authentication: boolean;
  /** Failed authentications allowed per source (address, client certificate): a token bucket. */
  readonly failedAuthLimit: { readonly burst: number; readonly perSecond: number };
  readonly storage: 'embedded' | 'cassandra';
  /** `maxSize`: bytes; undefined: the engine's default from the disk at start-up. */
  readonly embedded: { readonly path: string; readonly maxSize: number | undefined };
  readonly cassandra: CassandraConfig | undefined;
  /** Needed by sealed namespaces; undefined when none is configured. */
  readonly keyring: KeyringConfig | undefined;
  readonly maxValueBytes: number;
  readonly maxKeyBytes: number;
  readonly namespaces: readonly NamespaceConfig[];
  readonly log: LogDestinationConfig;
  readonly drainTimeoutMs: number;
  readonly shutdownDelayMs: number;
  readonly readinessTimeoutMs: number;
  readonly insight: InsightConfig;
  /** Things that work but deserve a look, one sentence each naming the key; logged at start-up. */
  readonly warnings: readonly string[];
}
