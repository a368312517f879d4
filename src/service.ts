/**
 * The whole service put together, in the order a request travels:
 * config -> server (routing, limits, endpoints) -> namespace -> storage engine,
 * with metrics and logging at the edges.
 */
import type { DestinationStream } from 'pino';
import { looseFiles } from './config/file-modes.js';
import type { FirkinConfig } from './config/types.js';
import { WriteInsight } from './insight/write-insight.js';
import { createLogger, openLogSink, type Logger } from './log/logger.js';
import type { LogSink } from './log/syslog.js';
import { Metrics } from './metrics/metrics.js';
import { openNamespaces, type Namespace } from './namespace/namespace.js';
import { ByteBudget } from './server/byte-budget.js';
import { Authentication } from './server/authentication.js';
import { serviceEndpoints } from './server/endpoints.js';
import { Readiness } from './server/readiness.js';
import { startServer, type RunningServer } from './server/server.js';
import type { StorageEngine } from './storage/engine.js';
import { openEngine } from './storage/open.js';
import { VERSION } from './version.js';
import { workerChannel } from './cluster.js';

export interface Service {
  readonly url: string;
  readonly logger: Logger;
  readonly engine: StorageEngine;
  readonly namespaces: readonly Namespace[];
  readonly metrics: Metrics;
  /** The admin listener's URL when the admin endpoints have their own. */
  readonly adminUrl: string | undefined;
  /** Re-open the log destination (SIGHUP). */
  reopenLogs(): void;
  /** Re-read the TLS files (SIGHUP) without dropping connections. */
  reloadTls(): void;
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
  for (const warning of config.warnings) logger.warn(warning);
  for (const { file, mode, message } of looseFiles(config)) logger.warn({ file, mode }, message);
  let engine: StorageEngine;
  try {
    engine = await openEngine(config, logger, metrics);
  } catch (err) {
    await sink?.end();
    throw err;
  }
  const insight = new WriteInsight(config.insight, metrics);
  const namespaces = openNamespaces(config.namespaces, engine, {
    metrics,
    insight,
    compareSampleRate: config.insight.compareSampleRate,
  });
  const readiness = new Readiness(engine, config.readinessTimeoutMs, metrics);
  const cluster = workerChannel({ metricsJson: () => metrics.registry.getMetricsAsJSON(), topKeys: () => insight.report(config.insight.sketchSize) }); // the whole sketch: the primary merges
  const auth = new Authentication(config, logger, metrics);
  const endpointOptions = { config, engine: engine.kind, metrics, insight, readiness, cluster, auth, logger, namespaces };
  const common = { config, logger, engine: engine.kind, metrics, auth, closing: () => readiness.isDraining, budget: new ByteBudget(config.maxBufferedBytes) };
  const adminApart = config.admin.enabled && config.admin.listen !== undefined;
  const servers: RunningServer[] = [];
  try {
    servers.push(
      await startServer({
        ...common,
        namespaces,
        endpoints: serviceEndpoints(endpointOptions, config.admin.enabled && !adminApart ? 'all' : 'service'),
      }),
    );
    if (adminApart) {
      servers.push(
        await startServer({ ...common, namespaces: [], endpoints: serviceEndpoints(endpointOptions, 'admin'), listen: config.admin.listen }),
      );
    }
  } catch (err) {
    await Promise.all(servers.map((s) => s.close(0)));
    await engine.close();
    await sink?.end();
    throw err;
  }
  const [server, adminServer] = servers as [RunningServer, RunningServer | undefined];
  void readiness.check(); // sets firkin_storage_ready before the first /readyz
  logger.info(
    {
      version: VERSION,
      node_version: process.version,
      url: server.url,
      admin_url: adminServer?.url,
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
    url: server.url,
    adminUrl: adminServer?.url,
    logger,
    engine,
    namespaces,
    metrics,
    reopenLogs: () => {
      sink?.reopen();
      logger.info({ log: config.log.kind }, 'log destination re-opened');
    },
    reloadTls: () => {
      if (config.tls === undefined) return;
      try {
        for (const s of servers) s.reloadTls();
        logger.info('TLS certificate, key and CA reloaded');
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
        await Promise.all(servers.map((s) => s.close(drainMs)));
        // Handlers whose client went away may still be waiting on the engine: give them the rest of the budget.
        const deadline = started + config.shutdownDelayMs + drainMs;
        while (metrics.inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
        await engine.close();
        logger.info({ drain_ms: Date.now() - started }, 'stopped');
        logger.flush();
        await sink?.end();
      })()),
  };
}
