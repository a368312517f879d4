/**
 * README.md's "A request's path" table is what a GET really runs: the modules whose
 * code ran for one GET on the embedded engine, measured (tools/request-path.ts).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { requestPath } from '../../tools/request-path.js';
import { readmeTable } from './readme-tables.js';

describe('the request path README.md shows', () => {
  it('lists exactly the modules a GET on the embedded engine runs code in', async () => {
    const measured = [...(await requestPath({ method: 'GET' })).keys()].map((m) => `src/${m}`).sort();
    const documented = readmeTable('request-path GET embedded').sort();
    assert.deepEqual(documented, measured);
    assert.match(readmeTable.text(), new RegExp(`A GET served by the embedded engine runs code in these ${measured.length} modules`));
  });
});
