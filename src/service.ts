/**
 * The whole service put together, in the order a request travels:
 * config → transport (listener, lanes, TLS) → API (routes, answers) → access
 * (who may) and namespace (policy) → storage engine; metrics, logging and the
 * write-pattern insight at the edges, wired here through the hooks each layer
 * declares. This is the only module that knows them all.
 */
import type { DestinationStream } from 'pino';
import { Authentication } from './access/authentication.js';
import { serviceEndpoints, type EndpointSet } from './api/endpoints.js';
import { createApi } from './api/handler.js';
import { Readiness } from './api/readiness.js';
import type { ServiceState } from './base/request.js';
import { version } from './base/version.js';
import { looseFiles } from './config/file-modes.js';
import type { FirkinConfig } from './config/types.js';
import { WriteInsight } from './insight/write-insight.js';
import { KeyHasher, takeSharedKeyHashSecret } from './log/key-hash.js';
import { createLogger, openLogSink, type Logger } from './log/logger.js';
import type { LogSink } from './log/syslog.js';
import { InstrumentedStore } from './metrics/instrumented-store.js';
import { Metrics } from './metrics/metrics.js';
import { requestObserver } from './metrics/requests.js';
import { Namespace, namespaceSpec } from './namespace/namespace.js';
import { readKeyring } from './config/keyring-files.js';
import { loadConfig } from './config/load.js';
import { LogEvery } from './log/log-every.js';
import { Keyring, KeyringHolder } from './seal/keyring.js';
import { SealedStore } from './seal/sealed-store.js';
import type { StorageEngine } from './storage/engine.js';
import { openEngine } from './storage/open.js';
import { ByteBudget } from './transport/byte-budget.js';
import { InFlight } from './transport/in-flight.js';
import { BODY_PACE, startListener, type RunningListener } from './transport/listener.js';
import { workerChannel } from './cluster.js';

export interface Service {
  readonly url: string;
  readonly logger: Logger;
  readonly engine: StorageEngine;
  readonly namespaces: readonly Namespace[];
  readonly metrics: Metrics;
  /** This process's key hashes (log lines, /admin/top-keys). */
  readonly hasher: KeyHasher;
  /** Requests being served now (the one count max_in_flight bounds). */
  inFlight(): number;
  /** The admin listener's URL when the admin endpoints have their own. */
  readonly adminUrl: string | undefined;
  /** Re-open the log destination (SIGHUP). */
  reopenLogs(): void;
  /** Re-read the TLS files (SIGHUP) without dropping connections. */
  reloadTls(): void;
  /** Re-read the keyring from the config file and its key files (SIGHUP); the previous one stays on any problem. */
  reloadKeyring(): void;
  /** Send queued log lines (before an abrupt exit), waiting at most `timeoutMs`. */
  flushLogs(timeoutMs: number): Promise<void>;
  /**
   * Graceful stop: report not ready, stop accepting, let in-flight requests finish
   * (up to `drainMs`, default the config's drain_timeout_ms), close the engine, flush the log.
   */
  close(drainMs?: number): Promise<void>;
}

export interface ServiceOptions {
  /** Log destination instead of the configured one; tests pass a stream to read the lines. */
  readonly logDestination?: DestinationStream;
  /** How long the embedded store's start-up probe took (`firkin serve` runs it first), for the log. */
  readonly storeProbeMs?: number;
}

/** What the main listener serves besides the namespaces (the admin listener: the `admin` set). */
function mainEndpoints(config: FirkinConfig, adminApart: boolean): EndpointSet {
  if (!adminApart) return config.admin.enabled ? 'all' : 'service';
  return config.admin.metricsOnMainListener ? 'service' : 'public';
}

export async function startService(config: FirkinConfig, options: ServiceOptions = {}): Promise<Service> {
  const engineKind = config.storage;
  const metrics = new Metrics({ engine: engineKind });
  const sink: LogSink | undefined = options.logDestination
    ? undefined
    : openLogSink(config.log, config.serviceName, () => metrics.logLineDropped());
  const logger = createLogger({
    serviceName: config.serviceName,
    level: config.logLevel,
    destination: options.logDestination ?? sink!,
  });
  // A worker shares its primary's secret, so that the hashes of every worker agree.
  const hasher = new KeyHasher(takeSharedKeyHashSecret());
  for (const warning of config.warnings) logger.warn(warning);
  for (const { file, mode, message } of looseFiles(config)) logger.warn({ file, mode }, message);
  let engine: StorageEngine;
  try {
    engine = await openEngine(config, logger, {
      ...(options.storeProbeMs === undefined ? {} : { probeMs: options.storeProbeMs }),
      onReclaimed: (namespace, count) => metrics.expiredReclaimed(namespace, count),
      onDamagedRecord: (namespace) => metrics.damagedRecord(namespace),
    });
  } catch (err) {
    await sink?.end();
    throw err;
  }
  if (engine.space !== undefined) metrics.embedded(engine.space);

  const insight = new WriteInsight(config.insight, hasher);
  // Sealed namespaces: the keyring (its files were checked at start-up), swapped whole by SIGHUP.
  const keyring = config.keyring === undefined ? undefined : new KeyringHolder(new Keyring(config.keyring.active, readKeyring(config.keyring, config.file)));
  const openFailures = new LogEvery(1000, 10);
  const onOpenFailure = (namespace: string, reason: string, keyId: string | undefined): void => {
    metrics.sealedOpenFailure(namespace, reason);
    const count = openFailures.due(`${namespace}\u0000${reason}`);
    if (count !== undefined) {
      logger.warn({ namespace, reason, key_id: keyId, ...(count > 1 ? { suppressed: count - 1 } : {}) }, 'a sealed record did not open: answered as missing');
    }
  };
  const namespaces = config.namespaces.map((c) => {
    const instrumented = new InstrumentedStore(engine.store(namespaceSpec(c)), metrics, c.name, engine.kind);
    const sealed = c.sealing === 'plain' ? undefined : new SealedStore(instrumented, c.name, keyring!, c.sealing, onOpenFailure);
    const store = sealed ?? instrumented;
    return new Namespace(c, {
      store,
      // Sealed bytes never repeat, so a sealed store cannot tell an unchanged rewrite: it is sampled.
      storeKnowsPrevious: engine.knowsPreviousVersion && sealed === undefined,
      sampleRead: sealed === undefined ? (key) => instrumented.compareRead(key) : (key) => sealed.get(key),
      compareSampleRate: config.insight.compareSampleRate,
      onWritten: (namespace, key, bytes, unchanged) => {
        metrics.written(namespace, bytes, unchanged);
        insight.written(namespace, key);
      },
    });
  });

  const state: ServiceState = { draining: false };
  const inFlight = new InFlight();
  metrics.trackInFlight(() => inFlight.count);
  const readiness = new Readiness(engine, config.readinessTimeoutMs, state, (ready) => metrics.setReady(ready));
  // In a worker, /metrics and /admin/top-keys show every worker's: the primary collects them.
  const cluster = workerChannel({ metricsJson: () => metrics.registry.getMetricsAsJSON(), topKeys: () => insight.report(config.insight.sketchSize) }); // the whole sketch: the primary merges
  const auth = new Authentication(config, logger, (status) => metrics.authRefused(status));
  const endpointOptions = {
    config,
    engine: engine.kind,
    readiness,
    logger,
    namespaces,
    auth,
    metrics: {
      contentType: metrics.registry.contentType,
      text: async () => (cluster ? String(await cluster.ask('metrics')) : await metrics.registry.metrics()),
    },
    topKeys: async () => (cluster ? await cluster.ask('top-keys') : insight.report()),
    onTruncation: (namespace: string, result: Parameters<Metrics['truncation']>[1]) => metrics.truncation(namespace, result),
  };
  const hooks = requestObserver(metrics, logger, hasher, engine.kind);
  const listenerOptions = {
    config,
    logger,
    hooks,
    refusals: auth.refusals,
    limits: {
      maxInFlight: config.maxInFlight,
      inFlight,
      budget: new ByteBudget(config.maxBufferedBytes),
      // Bodies being received and held: as many as max_in_flight requests of the largest value (the memory bound's term).
      bodies: new ByteBudget(config.maxInFlight * config.maxValueBytes),
      bodyPace: BODY_PACE,
      writeTimeoutMs: config.writeTimeoutMs,
      state,
    },
  };
  const apiOptions = {
    maxKeyBytes: config.maxKeyBytes,
    maxValueBytes: config.maxValueBytes,
    mutualTls: config.tls?.ca !== undefined,
    auth,
    logger,
    hasher,
    engine: engine.kind,
  };
  const adminApart = config.admin.enabled && config.admin.listen !== undefined;
  const listeners: RunningListener[] = [];
  try {
    listeners.push(
      await startListener({
        ...listenerOptions,
        api: createApi({ ...apiOptions, namespaces, endpoints: serviceEndpoints(endpointOptions, mainEndpoints(config, adminApart)) }),
      }),
    );
    if (adminApart) {
      listeners.push(
        await startListener({
          ...listenerOptions,
          api: createApi({ ...apiOptions, namespaces: [], endpoints: serviceEndpoints(endpointOptions, 'admin') }),
          listen: config.admin.listen,
        }),
      );
    }
  } catch (err) {
    await Promise.all(listeners.map((s) => s.close(0)));
    await engine.close();
    await sink?.end();
    throw err;
  }
  const [listener, adminListener] = listeners as [RunningListener, RunningListener | undefined];
  void readiness.check(); // sets firkin_storage_ready before the first /readyz
  logger.info(
    {
      version: version(),
      node_version: process.version,
      url: listener.url,
      admin_url: adminListener?.url,
      mutual_tls: config.tls?.ca !== undefined,
      authentication: config.authentication,
      engine: engine.kind,
      log: config.log.kind,
      namespaces: namespaces.map((ns) => ({ name: ns.name, base_uri: ns.baseUri, default_ttl: ns.defaultTtl })),
    },
    'listening',
  );
  let closing: Promise<void> | undefined;
  return {
    url: listener.url,
    adminUrl: adminListener?.url,
    logger,
    engine,
    namespaces,
    metrics,
    hasher,
    inFlight: () => inFlight.count,
    reopenLogs: () => {
      sink?.reopen();
      logger.info({ log: config.log.kind }, 'log destination re-opened');
    },
    reloadKeyring: () => {
      if (keyring === undefined) return;
      try {
        const fresh = loadConfig(config.file);
        if (fresh.keyring === undefined) throw new Error('the config file no longer has a keyring');
        keyring.current = new Keyring(fresh.keyring.active, readKeyring(fresh.keyring, fresh.file));
        logger.info({ active: fresh.keyring.active, keys: keyring.current.ids }, 'keyring reloaded');
      } catch (err) {
        logger.error({ err: err instanceof Error ? err.message : String(err) }, 'keyring not reloaded; the previous one stays in use');
      }
    },
    reloadTls: () => {
      if (config.tls === undefined) return;
      try {
        for (const s of listeners) s.reloadTls();
        logger.info(config.tls.revoked === undefined ? 'TLS certificate, key and CA reloaded' : 'TLS certificate, key, CA and revocation list reloaded');
      } catch (err) {
        logger.error({ err }, 'TLS files not reloaded; the previous ones stay in use');
      }
    },
    flushLogs: async (timeoutMs) => {
      logger.flush();
      await sink?.end(timeoutMs);
    },
    close: (drainMs = config.drainTimeoutMs) =>
      (closing ??= (async () => {
        readiness.drain();
        const started = Date.now();
        // Keep accepting (every answer says Connection: close, /readyz says 503) until load
        // balancers have noticed, then stop accepting and let what is in flight finish.
        if (config.shutdownDelayMs > 0) await new Promise((r) => setTimeout(r, config.shutdownDelayMs));
        await Promise.all(listeners.map((s) => s.close(drainMs)));
        // Handlers whose client went away may still be waiting on the engine: give them the rest of the budget.
        const deadline = started + config.shutdownDelayMs + drainMs;
        while (inFlight.count > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
        await engine.close();
        logger.info({ drain_ms: Date.now() - started }, 'stopped');
        logger.flush();
        await sink?.end();
      })()),
  };
}
