/**
 * README.md's "A request's path" on Cassandra: the modules a GET runs code in there,
 * measured on the test node (tools/request-path.ts).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { requestPath } from '../../tools/request-path.js';
import { TEST_NODES } from '../helpers/cassandra.js';
import { readmeTable } from './readme-tables.js';

describe('the request path README.md shows, on Cassandra', () => {
  it('lists exactly the modules a GET on Cassandra runs code in', async () => {
    const measured = [...(await requestPath({ method: 'GET', cassandraHost: TEST_NODES.single.listen })).keys()].map((m) => `src/${m}`).sort();
    const documented = [
      ...readmeTable('request-path GET embedded').filter((m) => !m.startsWith('src/storage/embedded/')),
      ...readmeTable('request-path GET cassandra'),
    ].sort();
    assert.deepEqual(documented, measured);
    assert.match(readmeTable.text(), new RegExp(`On Cassandra, ${measured.length} modules`));
  });
});
