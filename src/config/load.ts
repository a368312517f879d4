/**
 * Loading the config: read the YAML file, validate it against the schema, apply
 * defaults and cross-key rules, and produce the resolved FirkinConfig the rest of
 * the service uses (its types: types.ts). Every failure is a ConfigError naming the key and the file.
 */
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, isAbsolute, resolve } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { plainWords } from './messages.js';
import { resolveAccess, resolveNamespaces } from './namespaces.js';
import { ConfigError } from '../base/config-error.js';
import { configSchema, MAX_KEY_BYTES_CASSANDRA, MAX_KEY_BYTES_EMBEDDED, parseSize, type ConfigFile } from './schema.js';

export type * from './types.js';
import type { CassandraConfig, FirkinConfig, KeyringConfig, LogDestinationConfig, NamespaceConfig } from './types.js';

export const DEFAULTS = {
  serviceName: 'firkin',
  baseUri: '/sessions/v1/',
  listenAddress: '127.0.0.1',
  listenPort: 8081,
  defaultTtl: 86_400,
  logLevel: 'info',
  embeddedPath: './data',
  maxValueBytes: 1024 * 1024,
  maxKeyBytes: 1024,
  drainTimeoutMs: 10_000,
  maxConnections: 10_000,
  /** Above what one application server opens (a MediaWiki host's few hundred PHP workers), well under max_connections. */
  maxConnectionsPerSource: 1000,
  maxInFlight: 1024,
  maxBufferedBytes: 64 * 1024 * 1024,
  writeTimeoutMs: 30_000,
  metricsMaxAgeMs: 1000,
  readinessTimeoutMs: 1_000,
  syslogPort: 514,
  syslogFacility: 'daemon',
  insight: { windowSeconds: 300, sketchSize: 1000, topKeys: 20, compareSampleRate: 0.01 },
  failedAuthLimit: { burst: 10, perSecond: 1 },
  cassandra: {
    port: 9042,
    keyspace: 'kask',
    table: 'values',
    /** The data centre name of a stock single-DC Cassandra (SimpleSnitch). */
    localDc: 'datacenter1',
    queryTimeoutMs: 12_000,
    connectTimeoutMs: 5_000,
  },
} as const;

/**
 * What the command line or the environment sets over the file (cli.ts): flag before
 * environment variable before the file's key before the default.
 */
export interface ConfigOverrides {
  /**
   * Where to listen: `PORT`, `HOST:PORT` or `[IPv6]:PORT` (`--listen`, FIRKIN_LISTEN);
   * `from` names its source in a config error.
   */
  readonly listen?: { readonly value: string; readonly from: string };
}

/** Load and validate a config file; with no file, the built-in defaults. */
export function loadConfig(file?: string, overrides: ConfigOverrides = {}): FirkinConfig {
  if (file === undefined) return resolveConfig({}, undefined, overrides);
  const absolute = resolve(file);
  let text: string;
  try {
    text = readFileSync(absolute, 'utf8');
  } catch (err) {
    throw new ConfigError(absolute, undefined, `cannot read the file (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  return parseConfig(text, absolute, overrides);
}

/** Validate config text as if read from `file`. */
export function parseConfig(text: string, file: string | undefined, overrides: ConfigOverrides = {}): FirkinConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: false, lineCounter });
  const yamlError = doc.errors[0];
  if (yamlError) {
    const at = lineCounter.linePos(yamlError.pos[0]);
    throw new ConfigError(file, undefined, `not valid YAML${at ? ` at line ${at.line}, column ${at.col}` : ''}: ${yamlError.message.split('\n')[0]}`);
  }
  const raw: unknown = dropNulls(doc.toJS());
  if (raw !== undefined && (typeof raw !== 'object' || Array.isArray(raw))) {
    throw new ConfigError(file, undefined, 'must be a YAML mapping of keys to values');
  }
  const parsed = configSchema.safeParse(raw ?? {}, { error: plainWords });
  if (!parsed.success) {
    const { issue, path } = innermost(parsed.error.issues[0]!, []);
    if (issue.code === 'unrecognized_keys') {
      throw new ConfigError(file, [...path, issue.keys[0]].join('.'), 'unknown key');
    }
    throw new ConfigError(file, path.join('.') || undefined, asWritten(issue.message, valueAt(raw, path)));
  }
  return resolveConfig(parsed.data, file, overrides);
}

/** The value at `path` in the parsed YAML. */
function valueAt(raw: unknown, path: readonly string[]): unknown {
  let at = raw;
  for (const k of path) at = at !== null && typeof at === 'object' ? (at as Record<string, unknown>)[k] : undefined;
  return at;
}

/**
 * A size key's problem says the value as it was written too ("got 20MiB (20971520
 * bytes)", not only the bytes). Only text that is a size: other text may be a secret.
 */
function asWritten(message: string, written: unknown): string {
  if (typeof written !== 'string') return message;
  const bytes = parseSize(written);
  if (bytes === undefined || !message.endsWith(`, got ${bytes}`)) return message;
  return `${message.slice(0, -String(bytes).length)}${written.trim()} (${bytes} bytes)`;
}

/**
 * Where a relative `embedded.path` (the default `./data` included) is: under
 * $STATE_DIRECTORY when it is set (systemd sets it from the unit's StateDirectory=, the
 * one directory a ProtectSystem=strict unit may write; the first, if it lists several),
 * else beside the config file, else (no config file) in the working directory. An
 * absolute path is taken as it is.
 */
export function dataPath(path: string, file: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (isAbsolute(path)) return path;
  const state = env.STATE_DIRECTORY?.split(':')[0];
  const base = state !== undefined && state !== '' ? state : file !== undefined ? dirname(resolve(file)) : process.cwd();
  return resolve(base, path);
}

/** `PORT`, `HOST:PORT` or `[IPv6]:PORT` (a port 0-65535); undefined when it is none of them. */
export function parseListen(value: string): { readonly address: string | undefined; readonly port: number } | undefined {
  const m = /^(?:(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]\s]+)):)?(\d{1,5})$/.exec(value.trim());
  if (m === null) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  return { address: m[1] ?? m[2], port };
}

/**
 * The issue to report: for a value none of a union's forms accept, the problem within
 * the form it was meant as (a mapping whose operations list has a typo names that entry,
 * not the whole client); for a bad record key, that key's own problem.
 */
function innermost(issue: z.core.$ZodIssue, outer: string[]): { issue: z.core.$ZodIssue; path: string[] } {
  const path = [...outer, ...issue.path.map(String)];
  if (issue.code === 'invalid_union') {
    // The form whose problem is not merely "wrong type here" is the one the value was meant as.
    const meant = issue.errors.find(([first]) => first !== undefined && !(first.code === 'invalid_type' && first.path.length === 0));
    if (meant !== undefined) return innermost(meant[0]!, path);
  }
  if (issue.code === 'invalid_key' && issue.issues[0] !== undefined) return { issue: issue.issues[0], path };
  return { issue, path };
}

function resolveConfig(c: ConfigFile, file: string | undefined, overrides: ConfigOverrides): FirkinConfig {
  const fail = (key: string, problem: string): never => {
    throw new ConfigError(file, key, problem);
  };
  let listen: ReturnType<typeof parseListen>;
  if (overrides.listen !== undefined) {
    listen = parseListen(overrides.listen.value);
    if (listen === undefined) fail(overrides.listen.from, 'must be PORT, HOST:PORT or [IPv6 address]:PORT, with a port 0–65535');
  }
  const warnings: string[] = [];
  // Only whether the file can be read: what a TLS file holds is checked by tls-files.ts (check-config, serve).
  const readable = (key: string, p: string | undefined): string | undefined => {
    if (p === undefined) return undefined;
    let problem: string | undefined;
    try {
      accessSync(p, constants.R_OK);
      if (statSync(p).isDirectory()) problem = 'is a directory, not a file';
    } catch (err) {
      problem = `cannot read the file (${(err as NodeJS.ErrnoException).code ?? 'error'})`;
    }
    if (problem !== undefined) throw new ConfigError(file, key, problem, p);
    return p;
  };

  // Kask: cert and key are both set or both absent.
  if ((c.tls?.cert === undefined) !== (c.tls?.key === undefined)) {
    fail(c.tls?.cert === undefined ? 'tls.cert' : 'tls.key', 'tls.cert and tls.key must be set together');
  }
  if (c.tls?.ca !== undefined && c.tls.cert === undefined) fail('tls.ca', 'mutual TLS needs tls.cert and tls.key too');
  if (c.tls?.revoked !== undefined && c.tls.ca === undefined) fail('tls.revoked', 'revokes client certificates: it needs mutual TLS (tls.ca)');
  const tls =
    c.tls?.cert !== undefined && c.tls.key !== undefined
      ? {
          cert: readable('tls.cert', c.tls.cert)!,
          key: readable('tls.key', c.tls.key)!,
          ca: readable('tls.ca', c.tls.ca),
          revoked: readable('tls.revoked', c.tls.revoked),
        }
      : undefined;

  const storage = c.storage ?? (c.cassandra !== undefined ? 'cassandra' : 'embedded');
  const cassandra = resolveCassandra(c, fail, readable);
  if (storage === 'cassandra' && cassandra === undefined) fail('storage', 'cassandra needs a cassandra: section');

  const namespaces = resolveNamespaces(c, {
    defaultBaseUri: DEFAULTS.baseUri,
    defaultTtl: c.default_ttl ?? DEFAULTS.defaultTtl,
    firstTable: c.cassandra?.table ?? DEFAULTS.cassandra.table,
    mutualTls: tls?.ca !== undefined,
    fail,
    warnings,
  });
  if (storage === 'embedded' && c.max_key_bytes !== undefined && c.max_key_bytes > MAX_KEY_BYTES_EMBEDDED) {
    fail('max_key_bytes', `must be 1–${MAX_KEY_BYTES_EMBEDDED} on the embedded engine (LMDB's key limit; up to ${MAX_KEY_BYTES_CASSANDRA} on cassandra), got ${c.max_key_bytes}`);
  }
  if (storage === 'cassandra') {
    namespaces.forEach((ns, i) => {
      if (ns.serialConsistency === 'serial' && !ns.conditionalWrites) {
        const key = c.namespaces === undefined ? 'serial_consistency' : `namespaces.${i}.serial_consistency`;
        warnings.push(`${key}: serial has no effect without conditional_writes: true (this namespace makes no lightweight transactions)`);
      }
    });
  }
  const keyring = resolveKeyring(c, namespaces, fail, warnings);
  if ((c.max_buffered_bytes ?? DEFAULTS.maxBufferedBytes) < (c.max_value_bytes ?? DEFAULTS.maxValueBytes)) {
    fail('max_buffered_bytes', 'must be at least max_value_bytes, or the largest value could never be sent');
  }
  const admin = resolveAdmin(c, tls?.ca !== undefined, fail, warnings);
  const authentication = tls?.ca !== undefined || namespaces.some((ns) => (ns.access?.tokens.length ?? 0) > 0) || admin.access !== undefined;
  if (authentication && admin.access === undefined) {
    warnings.push(
      'admin: authentication is configured (tls.ca or tokens) but neither admin.clients nor admin.tokens is set, so /metrics and /admin/* ' +
        'refuse every caller (401 or 403: a Prometheus scraping /metrics sees its target down); set admin.clients or admin.tokens so Prometheus can scrape /metrics',
    );
  } else if (authentication) {
    warnings.push(scrapersWarning(admin.access!));
  }
  if (c.insight?.top_keys !== undefined && c.insight.top_keys > (c.insight.sketch_size ?? DEFAULTS.insight.sketchSize)) {
    fail('insight.top_keys', 'must not exceed insight.sketch_size');
  }

  return {
    file,
    serviceName: c.service_name ?? DEFAULTS.serviceName,
    listenAddress: listen?.address ?? c.listen_address ?? DEFAULTS.listenAddress,
    listenPort: listen?.port ?? c.listen_port ?? DEFAULTS.listenPort,
    logLevel: c.log_level ?? DEFAULTS.logLevel,
    openapiSpec: readable('openapi_spec', c.openapi_spec),
    tls,
    storage,
    embedded: {
      path: dataPath(c.embedded?.path ?? DEFAULTS.embeddedPath, file),
      maxSize: c.embedded?.max_size,
    },
    cassandra,
    keyring,
    maxValueBytes: c.max_value_bytes ?? DEFAULTS.maxValueBytes,
    maxKeyBytes: c.max_key_bytes ?? DEFAULTS.maxKeyBytes,
    namespaces,
    log: resolveLog(c, fail),
    maxConnections: c.max_connections ?? DEFAULTS.maxConnections,
    maxConnectionsPerSource: c.max_connections_per_source ?? DEFAULTS.maxConnectionsPerSource,
    workers: c.workers ?? defaultWorkers(storage),
    maxInFlight: c.max_in_flight ?? DEFAULTS.maxInFlight,
    maxBufferedBytes: c.max_buffered_bytes ?? DEFAULTS.maxBufferedBytes,
    writeTimeoutMs: c.write_timeout_ms ?? DEFAULTS.writeTimeoutMs,
    metricsMaxAgeMs: c.metrics_max_age_ms ?? DEFAULTS.metricsMaxAgeMs,
    admin,
    authentication,
    failedAuthLimit: {
      burst: c.failed_auth_limit?.burst ?? DEFAULTS.failedAuthLimit.burst,
      perSecond: c.failed_auth_limit?.per_second ?? DEFAULTS.failedAuthLimit.perSecond,
    },
    drainTimeoutMs: c.drain_timeout_ms ?? DEFAULTS.drainTimeoutMs,
    shutdownDelayMs: c.shutdown_delay_ms ?? 0,
    readinessTimeoutMs: c.readiness_timeout_ms ?? DEFAULTS.readinessTimeoutMs,
    insight: {
      windowSeconds: c.insight?.window_seconds ?? DEFAULTS.insight.windowSeconds,
      sketchSize: c.insight?.sketch_size ?? DEFAULTS.insight.sketchSize,
      topKeys: c.insight?.top_keys ?? DEFAULTS.insight.topKeys,
      compareSampleRate: c.insight?.compare_sample_rate ?? DEFAULTS.insight.compareSampleRate,
    },
    warnings,
  };
}

/**
 * The keyring: needed as soon as one namespace is sealed (or migrating); its active key
 * among its keys, each id once. The files themselves are read by keyring-files.ts.
 */
function resolveKeyring(
  c: ConfigFile,
  namespaces: readonly NamespaceConfig[],
  fail: (key: string, problem: string) => never,
  warnings: string[],
): KeyringConfig | undefined {
  const sealed = namespaces.filter((ns) => ns.sealing !== 'plain');
  const k = c.keyring;
  if (k === undefined) {
    if (sealed.length > 0) fail('keyring', `namespace ${sealed[0]!.name} is sealed, which needs a keyring (keyring: {active: ID, keys: [{id: ID, file: PATH}]})`);
    return undefined;
  }
  k.keys.forEach((key, i) => {
    if (k.keys.findIndex((other) => other.id === key.id) !== i) fail(`keyring.keys.${i}.id`, `duplicate key id ${key.id}`);
  });
  if (!k.keys.some((key) => key.id === k.active)) fail('keyring.active', `names ${k.active}, which is not among keyring.keys`);
  if (sealed.length === 0) warnings.push('keyring: no namespace is sealed (sealed: true or migrate), so the keyring is not used');
  return { active: k.active, keys: k.keys.map((key) => ({ id: key.id, file: key.file })) };
}

/**
 * With authentication configured, /metrics is no longer open as in Kask: say so at every
 * start, naming what a scraper must now send (a Prometheus without it gets 401 and reports
 * the target down), since nothing else tells the operator who turned authentication on.
 */
function scrapersWarning(access: NonNullable<FirkinConfig['admin']['access']>): string {
  const how = [
    access.tokens.length > 0
      ? 'a token of admin.tokens in its scrape config (authorization: {credentials_file: /etc/prometheus/firkin-token})'
      : undefined,
    access.clients.length > 0 ? 'a certificate listed in admin.clients (tls_config: {cert_file: …, key_file: …})' : undefined,
  ].filter((h) => h !== undefined);
  return (
    'admin: /metrics now needs an admin client (admin.clients or admin.tokens): a Prometheus scraping without credentials gets 401 ' +
    `(its target shows down), with a namespace's credentials 403; give it ${how.join(', or ')}. ` +
    '/readyz stays open; /healthz answers others {"status":"ok"} only'
  );
}

function resolveAdmin(
  c: ConfigFile,
  mutualTls: boolean,
  fail: (key: string, problem: string) => never,
  warnings: string[],
): FirkinConfig['admin'] {
  const a = c.admin;
  const enabled = a?.enabled ?? true;
  if (a?.listen_address !== undefined && a.listen_port === undefined) fail('admin.listen_port', 'needed with admin.listen_address');
  if (!enabled && a?.listen_port !== undefined) fail('admin.listen_port', 'the admin endpoints are disabled (admin.enabled: false)');
  if (a?.clients !== undefined && !mutualTls) fail('admin.clients', 'client certificate identities need mutual TLS (tls.ca)');
  if (a?.metrics_on_main_listener === false && a.listen_port === undefined) {
    fail('admin.metrics_on_main_listener', 'needs admin.listen_port: without a listener of its own, /metrics is served on the main one');
  }
  const listen = a?.listen_port !== undefined ? { address: a.listen_address ?? DEFAULTS.listenAddress, port: a.listen_port } : undefined;
  const access = resolveAccess('admin', a?.clients, a?.tokens, fail, warnings);
  return { enabled, listen, metricsOnMainListener: a?.metrics_on_main_listener ?? true, access };
}

function resolveLog(c: ConfigFile, fail: (key: string, problem: string) => never): LogDestinationConfig {
  const s = c.log?.syslog;
  if (s === undefined) return { kind: 'stdout' };
  const facility = s.facility ?? DEFAULTS.syslogFacility;
  if (s.path !== undefined) {
    for (const k of ['host', 'port', 'protocol'] as const) {
      if (s[k] !== undefined) fail(`log.syslog.${k}`, 'give either log.syslog.path or log.syslog.host, not both');
    }
    return { kind: 'syslog-socket', path: s.path, facility };
  }
  if (s.host === undefined) fail('log.syslog', 'needs path (a local socket such as /dev/log) or host');
  return { kind: 'syslog-server', host: s.host!, port: s.port ?? DEFAULTS.syslogPort, protocol: s.protocol ?? 'udp', facility };
}

function resolveCassandra(
  c: ConfigFile,
  fail: (key: string, problem: string) => never,
  readable: (key: string, p: string | undefined) => string | undefined,
): CassandraConfig | undefined {
  const cs = c.cassandra;
  if (cs === undefined) return undefined;
  if (cs.hosts !== undefined && cs.hostname !== undefined) fail('cassandra.hostname', 'use either cassandra.hosts or cassandra.hostname, not both');
  const auth = cs.authentication;
  if ((auth?.username === undefined) !== (auth?.password === undefined)) {
    fail(auth?.username === undefined ? 'cassandra.authentication.username' : 'cassandra.authentication.password', 'username and password must be set together');
  }
  const t = cs.tls;
  if (t !== undefined) {
    if (t.ca === undefined && (t.cert !== undefined || t.key !== undefined || t.enable_host_verification !== undefined)) {
      fail('cassandra.tls.ca', 'a CA must be configured when cassandra.tls is used');
    }
    if ((t.cert === undefined) !== (t.key === undefined)) {
      fail(t.cert === undefined ? 'cassandra.tls.cert' : 'cassandra.tls.key', 'cassandra.tls.cert and cassandra.tls.key must be set together');
    }
  }
  return {
    hosts: cs.hosts ?? (cs.hostname !== undefined ? [cs.hostname] : ['localhost']),
    port: cs.port ?? DEFAULTS.cassandra.port,
    keyspace: cs.keyspace ?? DEFAULTS.cassandra.keyspace,
    localDc: cs.local_dc ?? DEFAULTS.cassandra.localDc,
    replication: cs.replication ?? { [cs.local_dc ?? DEFAULTS.cassandra.localDc]: 1 },
    queryTimeoutMs: cs.query_timeout_ms ?? DEFAULTS.cassandra.queryTimeoutMs,
    connectTimeoutMs: cs.connect_timeout_ms ?? DEFAULTS.cassandra.connectTimeoutMs,
    authentication: auth?.username !== undefined && auth.password !== undefined ? { username: auth.username, password: auth.password } : undefined,
    tls:
      t?.ca !== undefined
        ? {
            ca: readable('cassandra.tls.ca', t.ca)!,
            cert: readable('cassandra.tls.cert', t.cert),
            key: readable('cassandra.tls.key', t.key),
            hostVerification: t.enable_host_verification ?? true,
          }
        : undefined,
  };
}

/** YAML `key:` with no value means "not set", as it does for Kask. */
function dropNulls(value: unknown): unknown {
  if (value === null) return undefined;
  if (Array.isArray(value)) return value.map(dropNulls);
  if (typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      const d = dropNulls(v);
      if (d !== undefined) out[k] = d;
    }
    return out;
  }
  return value;
}

/**
 * `workers` when the config leaves it out. On Cassandra, one process: the JVM needs the
 * cores more than a second Node.js does, and one driver pool serves more than two (GET,
 * 32 connections, 2 cores: 4 600–5 200 req/s, p99 18–21 ms, 176 MB RSS with one process;
 * 3 550–3 780 req/s, p99 34–46 ms, 375 MB with two; docs/benchmarks.md). On the embedded
 * engine, the Node.js processes do all the work: one per core, at most 16.
 */
export function defaultWorkers(storage: 'embedded' | 'cassandra'): number {
  return storage === 'cassandra' ? 1 : Math.min(availableParallelism(), 16);
}
