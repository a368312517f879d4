/** `npm run cassandra`'s version handling: which release lines it runs, and its answer to others. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { fullVersion, NODES, releaseLine, RELEASES } from '../../tools/cassandra/node.js';

const CLI = fileURLToPath(new URL('../../tools/cassandra/cli.js', import.meta.url));
const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 30_000 });

describe('npm run cassandra: versions', () => {
  it('knows 4.1 and 5.0, by line or by release', () => {
    assert.equal(releaseLine('4.1'), '4.1');
    assert.equal(releaseLine('4.1.8'), '4.1');
    assert.equal(releaseLine('5.0.9'), '5.0');
    assert.equal(fullVersion('4.1'), RELEASES['4.1'].version);
    assert.equal(fullVersion('4.1.8'), '4.1.8');
    for (const bad of ['3.11', '4.0.13', '5.1', '4', 'latest', '']) assert.throws(() => releaseLine(bad), /supported versions are/);
  });

  it('gives each line its own addresses, so both can run at once', () => {
    const nodes = Object.values(NODES).flatMap((n) => [n.single, ...n.cluster]);
    assert.equal(new Set(nodes.map((n) => n.listen)).size, nodes.length);
    assert.equal(new Set(nodes.map((n) => n.jmxPort)).size, nodes.length);
    assert.equal(new Set(nodes.map((n) => n.name)).size, nodes.length);
    for (const n of [NODES['4.1'].single, ...NODES['4.1'].cluster]) assert.equal(n.version, RELEASES['4.1'].version);
  });

  it('lists the nodes of both lines in status', () => {
    const r = run('status');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^single-4\.1 +127\.0\.0\.31 +4\.1\.\d+ +(running|stopped)$/m);
    assert.match(r.stdout, /^single +127\.0\.0\.1 +5\.0\.\d+ +(running|stopped)$/m);
  });

  it('refuses another version or a bad command with usage and exit 2, starting nothing', () => {
    for (const args of [['start', '--version', '3.11'], ['start', '--versoin', '4.1'], ['launch']]) {
      const r = run(...args);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /usage: npm run cassandra/);
    }
  });
});
