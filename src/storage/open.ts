/** Opening the configured storage engine. */
import type { FirkinConfig } from '../config/load.js';
import type { Logger } from '../log/logger.js';
import { CassandraEngine } from './cassandra/cassandra-engine.js';
import { EmbeddedEngine } from './embedded/lmdb-engine.js';
import type { StorageEngine } from './engine.js';

export function openEngine(config: FirkinConfig, logger: Logger): StorageEngine {
  switch (config.storage) {
    case 'embedded':
      return new EmbeddedEngine({
        path: config.embedded.path,
        onSweepError: (namespace, err) => logger.error({ err, namespace }, 'expiry sweep failed; retrying'),
      });
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
