/**
 * The YAML config file's schema: every key Kask reads, plus Firkin's own.
 * Unknown keys are errors (a typo must not silently fall back to a default).
 * Numeric keys carry no messages of their own: messages.ts says each one's range
 * from its bounds here (a `.describe()` adds the unit or why a bound is what it is).
 */
import { z } from 'zod';

/** Cassandra's own ceiling for a TTL: 20 years. */
export const MAX_TTL_SECONDS = 630_720_000;
/** The embedded engine: LMDB's key limit is 1978 bytes; leave room for the expiry index's prefix. */
export const MAX_KEY_BYTES_EMBEDDED = 1900;
/**
 * The Cassandra engine: Cassandra's own limit on a partition key (its length is an
 * unsigned 16-bit number), so every key Kask could store stays readable and deletable.
 */
export const MAX_KEY_BYTES_CASSANDRA = 65_535;
/** Cassandra refuses mutations over half a commit-log segment (16 MiB by default). */
export const MAX_VALUE_BYTES_LIMIT = 16 * 1024 * 1024;
/** embedded.max_size: at least 1 MiB; at most 16 TiB (far past any session store, under LMDB's own limits). */
export const MIN_EMBEDDED_MAX_SIZE = 2 ** 20;
export const MAX_EMBEDDED_MAX_SIZE = 2 ** 44;

/** The units a size takes: decimal (kB, MB, GB, TB) and binary (KiB, MiB, GiB, TiB), any case; B or none: bytes. */
export const SIZE_UNITS: Readonly<Record<string, number>> = {
  b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40,
};

/**
 * A size written as text (`20MiB`, `1.5 GiB`, `100MB`, `"4096"`) in bytes, or undefined
 * when the text is not a size. A fraction of a unit is rounded down to whole bytes;
 * a fraction of a byte is returned as it is (and refused as not whole).
 */
export function parseSize(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  if (m === null) return undefined;
  const unit = SIZE_UNITS[(m[2] || 'b').toLowerCase()];
  if (unit === undefined) return undefined;
  const bytes = Number(m[1]) * unit;
  return unit === 1 ? bytes : Math.floor(bytes);
}

/**
 * A size-valued key: a whole number of bytes, or text with a unit (parseSize), checked
 * against `bytes`'s bounds once converted. Every key that holds a number of bytes takes it.
 */
function size<T extends z.ZodType>(bytes: T) {
  return z.preprocess((v) => (typeof v === 'string' ? (parseSize(v) ?? v) : v), bytes);
}

const text = z.string().min(1, 'must not be empty');
const path = text;
const port = z.int().min(0).max(65535);
const ttl = z.int().min(0).max(MAX_TTL_SECONDS).describe('seconds, at most 20 years; 0: never expire');
const positiveMs = z.int().min(1).max(600_000).describe('milliseconds');

export const SYSLOG_FACILITIES = [
  'kern', 'user', 'mail', 'daemon', 'auth', 'syslog', 'lpr', 'news', 'uucp', 'cron', 'authpriv', 'ftp',
  'local0', 'local1', 'local2', 'local3', 'local4', 'local5', 'local6', 'local7',
] as const;
export type SyslogFacility = (typeof SYSLOG_FACILITIES)[number];

export const baseUri = text.regex(/^\/?[\x21-\x7e]*$/, 'must be a path of printable ASCII characters');

const namespaceName = z
  .string()
  .regex(/^[a-z][a-z0-9_]{0,47}$/, 'must be 1-48 lower-case letters, digits or _ and start with a letter');

export const OPERATIONS = ['read', 'write', 'delete'] as const;
const operations = z.array(z.enum(OPERATIONS, 'must be read, write or delete')).min(1).optional();

/**
 * A client certificate identity: `cn:<subject CN>`, `dns:<SAN DNS name>` or `uri:<SAN URI>`;
 * a bare value (no such prefix) matches any of the three, with a start-up warning.
 */
const identity = text;

/** A client allowed by its certificate identity. */
const client = z.union([
  identity,
  z.strictObject({ identity, operations }),
]);

const tokenName = z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be 1-64 letters, digits, ., _ or -');
const tokenHash = z.string().regex(/^[0-9a-f]{64}$/, 'must be the SHA-256 of the token, 64 lower-case hex digits');

/** A bearer token allowed by the SHA-256 of its value (never the token itself). */
const token = z.strictObject({ name: tokenName, sha256: tokenHash, operations });

const rateLimit = z.strictObject({
  requests_per_second: z.number().positive().max(1_000_000),
  burst: z.int().min(1).max(1_000_000).optional(),
});

/** Cassandra: every write and delete through Paxos, and conditional requests accepted (docs/cassandra.md). */
const conditionalWrites = z.boolean('must be true or false');
/** Cassandra: Paxos within the local data centre (local_serial) or across all (serial). */
const serialConsistency = z.enum(['local_serial', 'serial'], 'must be local_serial or serial');

/** Sealed namespaces (docs/sealed.md): keys hashed and values encrypted before they reach storage. */
const sealed = z.custom<boolean | 'migrate'>((v) => v === true || v === false || v === 'migrate', 'must be true, false or migrate');

const keyId = z.string().regex(/^[A-Za-z0-9._-]{1,32}$/, 'must be 1-32 letters, digits, ., _ or -');

/** The keys sealed namespaces derive their own keys from: at most 8, one active. */
const keyring = z.strictObject({
  active: keyId,
  keys: z.array(z.strictObject({ id: keyId, file: path })).min(1).max(8),
});

const namespace = z.strictObject({
  name: namespaceName,
  base_uri: baseUri,
  default_ttl: ttl.optional(),
  /** Client certificate identities allowed here (needs tls.ca). */
  clients: z.array(client).min(1).max(1000).optional(),
  /** Bearer tokens allowed here. */
  tokens: z.array(token).min(1).max(1000).optional(),
  /** Per-client request rate limit in this namespace. */
  rate_limit: rateLimit.optional(),
  /** Cassandra table for this namespace (default: the top-level cassandra.table for the first, else the name). */
  table: z
    .string()
    .regex(/^[A-Za-z][A-Za-z0-9_]{0,47}$/, 'must be a Cassandra table name')
    .optional(),
  conditional_writes: conditionalWrites.optional(),
  serial_consistency: serialConsistency.optional(),
  sealed: sealed.optional(),
});

export const configSchema = z.strictObject({
  // Kask's keys
  service_name: text.optional(),
  base_uri: baseUri.optional(),
  listen_address: text.optional(),
  listen_port: port.optional(),
  default_ttl: ttl.optional(),
  log_level: z
    .string()
    .transform((s) => s.toLowerCase())
    .pipe(z.enum(['debug', 'info', 'warning', 'error', 'fatal'], 'must be one of debug, info, warning, error, fatal'))
    .optional(),
  openapi_spec: path.optional(),
  tls: z
    .strictObject({
      cert: path.optional(),
      key: path.optional(),
      ca: path.optional(),
      /** SHA-256 fingerprints of revoked client certificates, one a line (Firkin's key; needs ca). */
      revoked: path.optional(),
    })
    .optional(),
  cassandra: z
    .strictObject({
      hosts: z.array(text).min(1).optional(),
      /** Older Kask configs name one host under `hostname`. */
      hostname: text.optional(),
      port: port.optional(),
      keyspace: z
        .string()
        .regex(/^[A-Za-z][A-Za-z0-9_]{0,47}$/, 'must be a Cassandra keyspace name')
        .optional(),
      table: z
        .string()
        .regex(/^[A-Za-z][A-Za-z0-9_]{0,47}$/, 'must be a Cassandra table name')
        .optional(),
      local_dc: text.optional(),
      /** Replicas per data centre for `firkin schema` (Firkin's key), e.g. {eqiad: 3, codfw: 3}. */
      replication: z
        .record(z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be data centre names'), z.int().min(1).max(15))
        .optional(),
      query_timeout_ms: positiveMs.optional(),
      connect_timeout_ms: positiveMs.optional(),
      authentication: z.strictObject({ username: text.optional(), password: text.optional() }).optional(),
      tls: z
        .strictObject({
          ca: path.optional(),
          cert: path.optional(),
          key: path.optional(),
          enable_host_verification: z.boolean().optional(),
        })
        .optional(),
    })
    .optional(),

  // Firkin's keys
  storage: z.enum(['embedded', 'cassandra'], 'must be embedded or cassandra').optional(),
  /** The single namespace's setting, and the default of listed namespaces. */
  conditional_writes: conditionalWrites.optional(),
  serial_consistency: serialConsistency.optional(),
  /** The single namespace's setting, and the default of listed namespaces. */
  sealed: sealed.optional(),
  keyring: keyring.optional(),
  embedded: z
    .strictObject({
      path: path.optional(),
      /** Size bound: bytes, or a size such as 512MiB, 4GiB, 100MB. */
      max_size: size(z.int().min(MIN_EMBEDDED_MAX_SIZE).max(MAX_EMBEDDED_MAX_SIZE).describe('bytes, or a size such as 512MiB or 4GiB: 1 MiB to 16 TiB')).optional(),
    })
    .optional(),
  max_value_bytes: size(z.int().min(1).max(MAX_VALUE_BYTES_LIMIT).describe('bytes, or a size such as 512KiB; at most 16 MiB: Cassandra refuses larger writes')).optional(),
  /** At most MAX_KEY_BYTES_CASSANDRA; the embedded engine's lower ceiling is checked in load.ts. */
  max_key_bytes: size(z.int().min(1).max(MAX_KEY_BYTES_CASSANDRA).describe("bytes, or a size such as 1KiB; Cassandra's key limit")).optional(),
  namespaces: z.array(namespace).min(1).max(64).optional(),
  log: z
    .strictObject({
      /** Send log lines to syslog instead of stdout: a local socket (`path`) or a server (`host`). */
      syslog: z
        .strictObject({
          path: path.optional(),
          host: text.optional(),
          port: port.optional(),
          protocol: z.enum(['udp', 'tcp'], 'must be udp or tcp').optional(),
          facility: z.enum(SYSLOG_FACILITIES, `must be one of ${SYSLOG_FACILITIES.join(', ')}`).optional(),
        })
        .optional(),
    })
    .optional(),
  /** Processes serving the port (node:cluster); default: the cores this process may use. */
  workers: z.int().min(1).max(64).optional(),
  /** Connections the listener holds at once; more are refused. */
  max_connections: z.int().min(1).max(1_000_000).optional(),
  /** Connections one source (an IPv4 address, an IPv6 /64) may hold at once; more are closed before a byte is read. */
  max_connections_per_source: z.int().min(1).max(1_000_000).optional(),
  /** Requests served at once, each until its response has left; more are answered 503 at once. */
  max_in_flight: z.int().min(1).max(1_000_000).optional(),
  /** Bytes of response bodies waiting to leave, per process; a response that does not fit is answered 503. */
  max_buffered_bytes: size(z.int().min(1).max(2 ** 40).describe('bytes, or a size such as 64MiB')).optional(),
  /** How old an answer of /metrics (and /admin/top-keys) may be: scrapes within it share one collection. */
  metrics_max_age_ms: z.int().min(0).max(60_000).describe('milliseconds').optional(),
  /** A response not fully handed to the kernel within this closes its connection (a client that does not read). */
  write_timeout_ms: positiveMs.optional(),
  /** The /admin endpoints: off, or on a listener of their own (which serves /metrics, /healthz and /readyz too). */
  admin: z
    .strictObject({
      enabled: z.boolean().optional(),
      listen_address: text.optional(),
      listen_port: port.optional(),
      /** With a listener of their own: whether the main listener serves /metrics too (default true). */
      metrics_on_main_listener: z.boolean().optional(),
      /** Client certificate identities allowed the admin endpoints and /metrics (needs tls.ca). */
      clients: z.array(identity).min(1).max(1000).optional(),
      /** Bearer tokens allowed the admin endpoints and /metrics. */
      tokens: z.array(z.strictObject({ name: tokenName, sha256: tokenHash })).min(1).max(1000).optional(),
    })
    .optional(),
  /** Failed authentications (401, 403) allowed per source address and per client certificate before 429. */
  failed_auth_limit: z
    .strictObject({
      burst: z.int().min(1).max(1_000_000).optional(),
      per_second: z.number().positive().max(1_000_000).optional(),
    })
    .optional(),
  /** On SIGTERM/SIGINT, how long in-flight requests may take to finish. */
  drain_timeout_ms: positiveMs.optional(),
  /** On SIGTERM/SIGINT, how long to keep accepting (answering /readyz 503) before closing the listener. */
  shutdown_delay_ms: z.int().min(0).max(600_000).describe('milliseconds').optional(),
  /** How long /readyz waits for the storage engine's probe. */
  readiness_timeout_ms: positiveMs.optional(),
  /** Write-pattern insight: which keys are rewritten most, and how often a write repeats the stored value. */
  insight: z
    .strictObject({
      window_seconds: z.int().min(10).max(86_400).describe('seconds').optional(),
      sketch_size: z.int().min(10).max(100_000).optional(),
      top_keys: z.int().min(1).max(1000).optional(),
      compare_sample_rate: z.number().min(0).max(1).optional(),
    })
    .optional(),
});

export type ConfigFile = z.infer<typeof configSchema>;
