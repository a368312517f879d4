/** Opening the configured storage engine. */
import type { FirkinConfig } from '../config/load.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import { CassandraEngine } from './cassandra/cassandra-engine.js';
import { EmbeddedEngine } from './embedded/lmdb-engine.js';
import type { StorageEngine } from './engine.js';

export function openEngine(config: FirkinConfig, logger: Logger, metrics: Metrics): StorageEngine {
  switch (config.storage) {
    case 'embedded': {
      const engine = new EmbeddedEngine({
        path: config.embedded.path,
        maxSize: config.embedded.maxSize,
        onSweepError: (namespace, err) => logger.error({ err, namespace }, 'expiry sweep failed; retrying'),
        onMeasureError: (err) => logger.error({ err }, 'cannot measure the embedded store; using the last measurement'),
        onReclaimed: (namespace, count) => metrics.expiredReclaimed(namespace, count),
      });
      metrics.embedded({
        fileBytes: () => engine.fileBytes(),
        usedBytes: () => engine.usedBytes(),
        maxSize: engine.space.maxSize,
        entries: () => engine.entries(),
      });
      const sizes = {
        path: config.embedded.path,
        max_size: engine.space.maxSize,
        // default: the file's size plus half the free disk, 64 MiB to 4 GiB (see docs/embedded.md)
        max_size_from: config.embedded.maxSize === undefined ? 'default' : 'config',
        used_bytes: engine.space.estimate,
      };
      logger.info(sizes, 'embedded store opened');
      if (sizes.used_bytes >= sizes.max_size) logger.warn(sizes, 'the embedded store is already at max_size: writes get 507 until entries expire or are deleted');
      return engine;
    }
    case 'cassandra': {
      let failures = 0;
      return new CassandraEngine({
        config: config.cassandra!,
        // Log the first failure and then every tenth, so an outage does not flood the log.
        onConnectError: (err) => {
          if (failures++ % 10 === 0) logger.error({ err, failures }, 'cannot connect to Cassandra; retrying');
        },
      });
    }
  }
}
