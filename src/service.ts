/**
 * The whole service put together, in the order a request travels:
 * config -> server -> namespace -> storage engine, with the logger beside them.
 */
import type { FirkinConfig } from './config/load.js';
import { createLogger, type Logger } from './log/logger.js';
import { openNamespaces, type Namespace } from './namespace/namespace.js';
import { startServer } from './server/server.js';
import type { StorageEngine } from './storage/engine.js';
import { openEngine } from './storage/open.js';
import { CassandraEngine } from './storage/cassandra/cassandra-engine.js';
import { VERSION } from './version.js';
import type { DestinationStream } from 'pino';

export interface Service {
  readonly url: string;
  readonly logger: Logger;
  readonly engine: StorageEngine;
  readonly namespaces: readonly Namespace[];
  /** Graceful stop: finish in-flight requests (up to `drainMs`), then close the engine. */
  close(drainMs?: number): Promise<void>;
}

export interface ServiceOptions {
  /** Log destination (default stdout); tests pass a stream to read the lines. */
  readonly logDestination?: DestinationStream;
}

export async function startService(config: FirkinConfig, options: ServiceOptions = {}): Promise<Service> {
  const logger = createLogger({ serviceName: config.serviceName, level: config.logLevel, destination: options.logDestination });
  const engine = openEngine(config, logger);
  const namespaces = openNamespaces(config.namespaces, engine);
  if (engine instanceof CassandraEngine) {
    // Give the first connection a moment so a normal start serves no 503s; if Cassandra is
    // down, serve anyway (503 until it answers: the engine keeps trying in the background).
    await engine.waitUntilConnected(config.cassandra!.connectTimeoutMs).catch(() => {
      logger.warn('Cassandra is not reachable yet; answering 503 until it is');
    });
  }
  let server;
  try {
    server = await startServer({ config, namespaces, logger });
  } catch (err) {
    await engine.close();
    throw err;
  }
  logger.info(
    {
      version: VERSION,
      node_version: process.version,
      url: server.url,
      engine: engine.kind,
      namespaces: namespaces.map((ns) => ({ name: ns.name, base_uri: ns.baseUri, default_ttl: ns.defaultTtl })),
    },
    'listening',
  );
  let closing: Promise<void> | undefined;
  return {
    url: server.url,
    logger,
    engine,
    namespaces,
    close: (drainMs) =>
      (closing ??= (async () => {
        await server.close(drainMs);
        await engine.close();
        logger.info('stopped');
        logger.flush();
      })()),
  };
}
