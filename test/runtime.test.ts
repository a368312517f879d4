/** The runtime the tests run on: Node.js 24, the primary (scripts/node-runtime.mjs), unless one was chosen. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

describe('runtime', () => {
  it('runs the tests on Node.js 24 (or on the Node.js FIRKIN_TEST_NODE names)', () => {
    const major = Number(process.versions.node.split('.')[0]);
    if (process.env.FIRKIN_TEST_NODE) assert.ok(major >= 22, `FIRKIN_TEST_NODE is Node.js ${process.version}, older than the oldest supported`);
    else assert.ok(major >= 24, `the tests run on Node.js ${process.version}: npm test should have moved them to Node.js 24`);
  });
});
