/**
 * The `firkin` command: `serve` runs the service, `check-config` validates a
 * config file, `schema` prints (and applies) the Cassandra schema, `check-keys`
 * scans a keyspace Kask wrote for keys Firkin would refuse, `store check` and
 * `store reset` look after the embedded store (store-command.ts), `export`, `import` and `backup` move
 * and copy sessions (transfer-export.ts, transfer-import.ts, transfer-backup.ts). Exit codes: 0 success, 1 runtime
 * failure (or, for check-keys, keys Firkin would refuse; another instance serving
 * the embedded store), 2 bad usage or config (a TLS file that cannot be used
 * included), 3 the embedded store cannot be used as it is (damaged, or a format this
 * Firkin does not read): an operator must act, so systemd does not restart on it;
 * 4 (import) a stream that is not a whole export of a version this Firkin reads.
 * (A Node.js older than 22.13 is refused before this module loads: bin/firkin.js, exit 2.)
 *
 * The config file: --config FILE, else $FIRKIN_CONFIG. Where to listen: --listen, else
 * $FIRKIN_LISTEN, else the file's listen_address and listen_port (flag > environment > file).
 */
import { parseArgs } from 'node:util';
import cluster from 'node:cluster';
import { runPrimary } from './cluster.js';
import { ConfigError } from './base/config-error.js';
import { version } from './base/version.js';
import { loadConfig, type ConfigOverrides } from './config/load.js';
import { checkDataDir } from './config/data-dir.js';
import type { FirkinConfig } from './config/types.js';
import { checkKeyring } from './config/keyring-files.js';
import { checkTlsFiles, TlsFileError } from './config/tls-files.js';
import { startService, type Service } from './service.js';
import type { FileLock } from './base/internals.js';
import type { ProbeReport } from './storage/embedded/probe.js';
import { applySchema, schemaStatements } from './storage/cassandra/schema.js';

const USAGE = `Usage:
  firkin serve [--config FILE] [--listen [HOST:]PORT]
                                       run the service (no config: embedded engine in ./data, 127.0.0.1:8081)
  firkin check-config --config FILE    validate a config file, the TLS files it names and the data directory, and exit
  firkin schema --config FILE [--apply]
                                       print the Cassandra schema (CQL) for the config; --apply runs it
  firkin check-keys --config FILE      scan each namespace's Cassandra table (a keyspace Kask wrote) and
                                       count keys Firkin would refuse (longer than max_key_bytes); exit 1 if any
  firkin keys generate FILE            write a new keyring key (32 random bytes) to a new file of mode 0600
  firkin keys status --config FILE     count each sealed namespace's records per keyring key id
  firkin store check --config FILE     read and check every record of the embedded store (a live one too);
                                       exit 3 if it is damaged
  firkin store reset --config FILE [--force]
                                       move a damaged embedded store aside (firkin.mdb.damaged-<time>) so the
                                       next start begins empty; --force: an undamaged one too
  firkin export --config FILE [--namespace NAME] [--sealed-as-stored]
                                       write every live session (with its remaining TTL) to stdout as a
                                       stream (docs/export-format.md), beside the running servers; a
                                       sealed namespace only with --sealed-as-stored (its records as
                                       stored: only a store with the same keyring keys takes them)
  firkin import --config FILE [--namespace NAME]
                                       read that stream from stdin into the configured store, adding only
                                       where a key holds no live value; exit 4 if the stream is refused
  firkin backup --config FILE DIR      write a consistent, compacted copy of the live embedded store to
                                       DIR/firkin.mdb, which a server serves as it is
  firkin --version                     print the version

--config FILE defaults to $FIRKIN_CONFIG; --listen (PORT, HOST:PORT or [IPv6]:PORT) to
$FIRKIN_LISTEN, then to the file's listen_address and listen_port.`;

function fail(message: string, code: number): never {
  process.stderr.write(`firkin: ${message}\n`);
  process.exit(code);
}

async function main(argv: string[]): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        listen: { type: 'string', short: 'l' },
        version: { type: 'boolean', short: 'v' },
        help: { type: 'boolean', short: 'h' },
        apply: { type: 'boolean' },
        force: { type: 'boolean' },
        namespace: { type: 'string', short: 'n' },
        'sealed-as-stored': { type: 'boolean' },
      },
    });
  } catch (err) {
    fail(`${(err as Error).message}\n${USAGE}`, 2);
  }
  const { values, positionals } = parsed;
  values.config ??= process.env.FIRKIN_CONFIG || undefined;
  const listen: ConfigOverrides['listen'] =
    values.listen !== undefined ? { value: values.listen, from: '--listen' } : process.env.FIRKIN_LISTEN ? { value: process.env.FIRKIN_LISTEN, from: 'FIRKIN_LISTEN' } : undefined;
  if (values.version) {
    process.stdout.write(`${version()}\n`);
    return;
  }
  const command = positionals[0];
  if (values.help || command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (command === 'keys') return keysCommand(positionals.slice(1), values.config);
  const arity = command === 'store' || command === 'backup' ? 2 : 1;
  if (positionals.length > arity) fail(`unexpected argument ${positionals[arity]}\n${USAGE}`, 2);

  switch (command) {
    case 'check-config': {
      if (values.config === undefined) fail(`check-config needs --config FILE\n${USAGE}`, 2);
      const config = load(values.config, { tlsFiles: true, dataDir: true, listen });
      for (const warning of config.warnings) process.stderr.write(`firkin: warning: ${warning}\n`);
      const where = config.storage === 'embedded' ? `, data in ${config.embedded.path}` : '';
      process.stdout.write(`${config.file}: ok (storage ${config.storage}${where}, ${config.namespaces.length} namespace(s))\n`);
      return;
    }
    case 'serve':
      return serve(values.config, listen);
    case 'schema': {
      if (values.config === undefined) fail(`schema needs --config FILE\n${USAGE}`, 2);
      // Printing needs no TLS file; applying connects, so a file it cannot use is a config problem (2), not a failure (1).
      const config = load(values.config, { tlsFiles: values.apply === true });
      if (config.cassandra === undefined) fail(`${config.file} has no cassandra: section`, 2);
      const statements = schemaStatements(config.cassandra, config.namespaces);
      process.stdout.write(statements.map((s) => `${s};\n`).join(''));
      if (values.apply) {
        try {
          await applySchema(config.cassandra, config.namespaces);
        } catch (err) {
          fail(`schema not applied: ${(err as Error).message}`, 1);
        }
        process.stderr.write(`firkin: schema applied to keyspace ${config.cassandra.keyspace}\n`);
      }
      return;
    }
    case 'check-keys': {
      if (values.config === undefined) fail(`check-keys needs --config FILE\n${USAGE}`, 2);
      const config = load(values.config, { tlsFiles: true });
      if (config.cassandra === undefined) fail(`${config.file} has no cassandra: section`, 2);
      process.exitCode = await (await import('./check-keys-command.js')).checkKeysCommand(config, config.cassandra);
      return;
    }
    case 'store': {
      const action = positionals[1];
      if (action !== 'check' && action !== 'reset') fail(`store needs check or reset\n${USAGE}`, 2);
      if (values.config === undefined) fail(`store ${action} needs --config FILE\n${USAGE}`, 2);
      const config = load(values.config);
      if (config.storage !== 'embedded') fail(`${config.file} does not use the embedded engine (storage: ${config.storage})`, 2);
      const { storeCheck, storeReset } = await import('./store-command.js');
      process.exitCode = action === 'check' ? await storeCheck(config.embedded.path) : await storeReset(config.embedded.path, values.force === true);
      return;
    }
    case 'export':
    case 'import': {
      if (values.config === undefined) fail(`${command} needs --config FILE\n${USAGE}`, 2);
      const config = load(values.config, { tlsFiles: true });
      process.exitCode =
        command === 'export'
          ? await (await import('./transfer-export.js')).exportSessions(config, values.namespace, { sealedAsStored: values['sealed-as-stored'] === true })
          : await (await import('./transfer-import.js')).importSessions(config, values.namespace);
      return;
    }
    case 'backup': {
      if (values.config === undefined || positionals[1] === undefined) fail(`backup needs --config FILE and a directory DIR\n${USAGE}`, 2);
      const config = load(values.config);
      const { backupStore } = await import('./transfer-backup.js');
      process.exitCode = await backupStore(config, positionals[1]);
      return;
    }
    case undefined:
      fail(`no command given\n${USAGE}`, 2);
    default:
      fail(`unknown command ${command}\n${USAGE}`, 2);
  }
}

/** `firkin keys generate FILE`, `firkin keys status --config FILE`. */
async function keysCommand(args: string[], configFile: string | undefined): Promise<void> {
  const { generateKey, keysStatus } = await import('./keys-command.js');
  const [sub, ...rest] = args;
  if (sub === 'generate') {
    if (rest.length !== 1) fail(`keys generate needs one FILE\n${USAGE}`, 2);
    process.exitCode = generateKey(rest[0]!);
    return;
  }
  if (sub === 'status') {
    if (rest.length > 0) fail(`unexpected argument ${rest[0]}\n${USAGE}`, 2);
    if (configFile === undefined) fail(`keys status needs --config FILE\n${USAGE}`, 2);
    process.exitCode = await keysStatus(load(configFile, { tlsFiles: true }));
    return;
  }
  fail(`keys needs generate or status\n${USAGE}`, 2);
}

/**
 * The config, or exit 2 naming the problem; with `tlsFiles`, its TLS files loaded as `serve` loads them, too;
 * with `dataDir`, the embedded store's directory checked as this user's to write.
 */
function load(file: string | undefined, { tlsFiles = false, dataDir = false, listen }: { tlsFiles?: boolean; dataDir?: boolean } & ConfigOverrides = {}): FirkinConfig {
  try {
    const config = loadConfig(file, listen === undefined ? {} : { listen });
    if (tlsFiles) {
      checkTlsFiles(config);
      checkKeyring(config);
    }
    if (dataDir) checkDataDir(config);
    return config;
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message, 2);
    throw err;
  }
}

/** The embedded store's instance lock, held (and referenced) until the process exits. */
let storeLock: FileLock | undefined;

/**
 * Before serving the embedded store (in the primary, before any worker): take its
 * instance lock and probe it. Exits 1 if another instance holds it, 3 if the store
 * cannot be used as it is (one line naming the file and why; nothing is changed).
 */
async function claimStore(config: FirkinConfig): Promise<ProbeReport> {
  const { claimEmbeddedStore } = await import('./storage/open.js');
  const { StoreInUse } = await import('./storage/embedded/instance-lock.js');
  const { StoreRefused, EXIT_STORE_UNUSABLE } = await import('./storage/embedded/probe.js');
  try {
    const claimed = await claimEmbeddedStore(config.embedded.path);
    storeLock = claimed.lock;
    return claimed.probe;
  } catch (err) {
    if (err instanceof StoreInUse) fail(`refusing to start: ${err.message}: one server per directory; stop that one first, or give this one another embedded.path`, 1);
    if (err instanceof StoreRefused) fail(`refusing to start: ${refusal(err, config.file)}`, EXIT_STORE_UNUSABLE);
    fail(`cannot start: ${(err as Error).message}`, 1);
  }
}

/** What to do about a store that cannot be used, after what is wrong with it. */
function refusal(err: { readonly message: string }, configFile: string | undefined): string {
  return (
    `${err.message}. Nothing was changed. Restore a backup, or move it aside and start empty with ` +
    `\`firkin store reset --config ${configFile ?? 'FILE'}\` (docs/embedded.md, "Recovery")`
  );
}

/**
 * Claim the store with the signals held meanwhile (the probe takes a tenth of a second): a
 * SIGTERM or SIGINT then stops the process cleanly once it is done (nothing was started),
 * and a SIGHUP never kills it. Returns the probe and whether a SIGHUP came.
 */
async function claimStoreHoldingSignals(config: FirkinConfig): Promise<{ probe: ProbeReport; hup: boolean }> {
  const came = new Set<string>();
  const signals = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;
  const handlers = signals.map((signal) => [signal, () => came.add(signal)] as const);
  for (const [signal, handler] of handlers) process.on(signal, handler);
  const probe = await claimStore(config);
  for (const [signal, handler] of handlers) process.off(signal, handler);
  if (came.has('SIGTERM') || came.has('SIGINT')) process.exit(0);
  return { probe, hup: came.has('SIGHUP') };
}

async function serve(configFile: string | undefined, listen: ConfigOverrides['listen']): Promise<void> {
  let config = load(configFile, { tlsFiles: true, dataDir: cluster.isPrimary, listen });
  const claimed = cluster.isPrimary && config.storage === 'embedded' ? await claimStoreHoldingSignals(config) : undefined;
  const probe = claimed?.probe;
  if (cluster.isPrimary && config.workers > 1) {
    runPrimary(config, probe === undefined ? {} : { storeProbe: probe, recheckStore: () => recheckStore(config) });
    return;
  }
  if (cluster.isWorker) config = asWorker(config);
  // Signals are handled from the start: one that arrives while the service is still
  // starting takes effect once it is up (a SIGHUP must never kill the process).
  let service: Service | undefined;
  let pendingStop: string | undefined;
  let stopping = false;
  const stop = (signal: string): void => {
    if (service === undefined) {
      pendingStop = signal;
      return;
    }
    if (stopping) return;
    stopping = true;
    const s = service;
    s.logger.info({ signal, drain_timeout_ms: config.drainTimeoutMs }, 'stopping: draining in-flight requests');
    s.close().then(
      () => process.exit(0),
      (err: unknown) => {
        s.logger.fatal({ err }, 'failed to stop cleanly');
        void s.flushLogs(1000).finally(() => process.exit(1));
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // SIGHUP: re-open the log destination (reconnect to syslog, restart `logger`), as logrotate expects,
  // and reload the TLS certificate, key and CA without dropping connections.
  let pendingHup = claimed?.hup === true;
  const hup = (): void => {
    if (service === undefined) {
      pendingHup = true;
      return;
    }
    service.reopenLogs();
    service.reloadTls();
    service.reloadKeyring();
  };
  process.on('SIGHUP', hup);

  try {
    service = await startService(config, probe === undefined ? {} : { storeProbeMs: probe.ms });
  } catch (err) {
    // A TLS file changed since the check above is still a config problem, not a runtime one.
    if (err instanceof TlsFileError) fail(err.inConfig(config.file).message, 2);
    fail(`cannot start: ${(err as Error).message}`, 1);
  }
  const s = service;
  // A stray rejection in a library must not take every session down with it: log it and go on.
  process.on('unhandledRejection', (err: unknown) => s.logger.error({ err }, 'unhandled rejection'));
  // An exception nobody caught leaves state unknown: log it and exit non-zero (the supervisor restarts us).
  // The fatal line is flushed first (a syslog destination sends asynchronously), for at most a second.
  process.on('uncaughtException', (err: Error) => {
    s.logger.fatal({ err }, 'uncaught exception');
    void s.flushLogs(1000).finally(() => process.exit(1));
  });
  if (pendingStop !== undefined) stop(pendingStop);
  else if (pendingHup) hup();
  // A worker whose primary is gone (killed) stops too, after draining.
  if (cluster.isWorker) process.on('disconnect', () => stop('primary gone'));
}

/**
 * A worker's share of per-process limits: a namespace rate limit and the
 * failed-authentication limit are split between the workers.
 */
function asWorker(config: FirkinConfig): FirkinConfig {
  const n = config.workers;
  const { burst, perSecond } = config.failedAuthLimit;
  return {
    ...config,
    failedAuthLimit: { burst: Math.max(1, Math.floor(burst / n)), perSecond: perSecond / n },
    namespaces: config.namespaces.map((ns) =>
      ns.rateLimit === undefined
        ? ns
        : { ...ns, rateLimit: { perSecond: ns.rateLimit.perSecond / n, burst: Math.max(1, Math.floor(ns.rateLimit.burst / n)) } },
    ),
  };
}

/**
 * With workers, after a worker died of a signal: probe the store again (a crash in LMDB
 * is how a damaged page shows). The line to stop on, or undefined if the store passes.
 */
async function recheckStore(config: FirkinConfig): Promise<string | undefined> {
  const { probeStore, StoreRefused } = await import('./storage/embedded/probe.js');
  try {
    await probeStore(config.embedded.path);
    return undefined;
  } catch (err) {
    return err instanceof StoreRefused ? refusal(err, config.file) : undefined;
  }
}

main(process.argv.slice(2)).catch((err: unknown) => fail(`unexpected failure: ${(err as Error).stack ?? String(err)}`, 1));
