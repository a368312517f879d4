/** Every conformance test of the storage interface, on sealed namespaces of the embedded engine. */
import { EmbeddedEngine } from '../../src/storage/embedded/lmdb-engine.js';
import { storageConformance } from '../storage/conformance.js';
import { tempDir } from '../helpers/tmp.js';
import { sealedEngine } from './sealed-engine.js';

storageConformance('embedded (LMDB), sealed', async () => sealedEngine(new EmbeddedEngine({ path: tempDir() })));
storageConformance('embedded (LMDB), sealed: migrate', async () => sealedEngine(new EmbeddedEngine({ path: tempDir() }), 'migrate'));
