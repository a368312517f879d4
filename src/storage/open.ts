/** Opening the configured storage engine. */
import type { FirkinConfig } from '../config/load.js';
import { EmbeddedEngine } from './embedded/lmdb-engine.js';
import type { StorageEngine } from './engine.js';

export async function openEngine(config: FirkinConfig): Promise<StorageEngine> {
  switch (config.storage) {
    case 'embedded':
      return new EmbeddedEngine({ path: config.embedded.path });
    case 'cassandra':
      throw new Error('the cassandra engine is not part of this build yet; use storage: embedded');
  }
}
