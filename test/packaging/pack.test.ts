/**
 * The three npm packages as a user gets them: `npm pack` of firkin, firkin-client
 * and connect-firkin, installed from their tarballs into an empty project, once on
 * the oldest Node.js `engines` admits (22.13, scripts/node-runtime.mjs) and once on
 * Node.js 24 (npm and the packages' install scripts run on that Node.js). On each, the
 * installed `firkin` command answers --help and serves; the installed firkin-client
 * talks to it; connect-firkin stores a session through it; both are imported (ESM) and
 * required (CommonJS). The server's tarball holds what running and deploying need
 * (deploy/, CHANGELOG.md, DEPENDENCIES.md) and no tests, CI or tooling.
 *
 * Packed with --ignore-scripts: `npm test` has just built everything, and the
 * prepack build (which empties dist/) must not pull the compiled tests from under
 * the other test files running beside this one; the prepack scripts are checked
 * to exist instead.
 *
 * Installing the tarballs into the project needs the npm registry, or a warm npm
 * cache: the server's dependencies and express-session come from there
 * (`--prefer-offline` uses the cache when it holds them).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { atFileEnd, tempDir } from '../helpers/tmp.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const { ensureNode, OLDEST_NODE, PRIMARY_NODE } = (await import(new URL('../../../scripts/node-runtime.mjs', import.meta.url).href)) as {
  ensureNode: (version: string) => string;
  OLDEST_NODE: string;
  PRIMARY_NODE: string;
};
const PACKAGES = [
  { name: 'firkin', dir: '.' },
  { name: 'firkin-client', dir: 'packages/client' },
  { name: 'connect-firkin', dir: 'packages/connect-firkin' },
] as const;
interface Packed {
  readonly name: string;
  readonly version: string;
  readonly filename: string;
  readonly files: ReadonlyArray<{ path: string }>;
}
/** The environment that runs `node` (npm, the firkin command, install scripts) on `node`: its directory first on PATH. */
const envFor = (node: string): NodeJS.ProcessEnv => ({ ...process.env, PATH: `${dirname(node)}${delimiter}${process.env.PATH ?? ''}`, npm_config_update_notifier: 'false' });
const npm = (node: string, cwd: string, ...args: string[]): string =>
  execFileSync('npm', args, { cwd, env: envFor(node), encoding: 'utf8', timeout: 300_000, stdio: ['ignore', 'pipe', 'pipe'] });
const lockedVersion = (name: string): string =>
  (JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version: string }> }).packages[`node_modules/${name}`]!.version;

const out = tempDir('firkin-pack-');
let packed: Map<string, Packed>;
const filesOf = (name: string): string[] => packed.get(name)!.files.map((f) => f.path);

before(() => {
  const args = ['pack', '--ignore-scripts', '--json', '--pack-destination', out, '--include-workspace-root', '--workspaces'];
  packed = new Map((JSON.parse(npm(process.execPath, root, ...args)) as Packed[]).map((p) => [p.name, p]));
});

describe('npm packages: the tarballs', () => {
  it('are the three, of one version, licensed Apache-2.0, with a LICENSE, README and CHANGELOG each and a prepack build', () => {
    assert.deepEqual([...packed.keys()].sort(), PACKAGES.map((p) => p.name).sort());
    const version = packed.get('firkin')!.version;
    for (const { name, dir } of PACKAGES) {
      const pkg = JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8')) as { license: string; private?: boolean; scripts: Record<string, string> };
      assert.equal(pkg.license, 'Apache-2.0', name);
      assert.equal(pkg.private, undefined, `${name} is publishable`);
      assert.match(pkg.scripts.prepack ?? '', /build/, `${name} builds before packing`);
      assert.equal(packed.get(name)!.filename, `${name}-${version}.tgz`, 'one version for the three');
      const files = filesOf(name);
      for (const file of ['LICENSE', 'README.md', 'CHANGELOG.md', 'package.json']) assert.ok(files.includes(file), `${name} ships ${file}: ${files.join(', ')}`);
    }
    for (const name of ['firkin-client', 'connect-firkin']) {
      const files = filesOf(name);
      assert.ok(files.includes('dist/src/index.js') && files.includes('dist/src/index.d.ts'), `${name} ships its code and types`);
      assert.ok(files.every((f) => !f.startsWith('dist/test/') && !f.startsWith('src/') && !f.endsWith('.map')), `${name}: ${files.join(', ')}`);
    }
  });

  it('the server tarball holds what running and deploying need (deploy/, CHANGELOG.md, DEPENDENCIES.md), and no tests, CI scripts or tools', () => {
    const files = filesOf('firkin');
    for (const needed of [
      'bin/firkin',
      'bin/firkin.js',
      'dist/src/cli.js',
      'dist/src/storage/embedded/lmdb-engine.js',
      'package.json',
      'deploy/firkin.service',
      'deploy/firkin.sysusers',
      'deploy/prometheus/alerts.yml',
      'CHANGELOG.md',
      'DEPENDENCIES.md',
      'docs/operations.md',
    ]) {
      assert.ok(files.includes(needed), `${needed} is in the tarball`);
    }
    const unwanted = files.filter((f) => /^(test|dist\/test|dist\/tools|tools|scripts|benchmarks|\.ci|src|packages)\//.test(f) || f.endsWith('.map') || f.endsWith('.ts'));
    assert.deepEqual(unwanted, []);
  });
});

for (const version of [OLDEST_NODE, PRIMARY_NODE]) {
  describe(`npm packages installed from their tarballs on Node.js ${version}`, () => {
    let node: string;
    let env: NodeJS.ProcessEnv;
    const project = tempDir('firkin-pack-project-');

    before(() => {
      node = ensureNode(version);
      env = envFor(node);
      writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'pack-test', private: true, type: 'module' }));
      // express-session, connect-firkin's peer dependency, at the version the repository tests with (from npm's cache when it has it).
      const tarballs = PACKAGES.map((p) => join(out, packed.get(p.name)!.filename));
      npm(node, project, 'install', '--prefer-offline', '--no-audit', '--no-fund', ...tarballs, `express-session@${lockedVersion('express-session')}`);
    });

    it('installs the server with its deploy files, CHANGELOG.md and DEPENDENCIES.md', () => {
      assert.equal(execFileSync(node, ['-p', 'process.versions.node'], { encoding: 'utf8' }).trim(), version);
      for (const file of ['deploy/firkin.service', 'CHANGELOG.md', 'DEPENDENCIES.md', 'LICENSE']) {
        assert.ok(existsSync(join(project, 'node_modules', 'firkin', file)), `node_modules/firkin/${file}`);
      }
      assert.match(readFileSync(join(project, 'node_modules', 'firkin', 'LICENSE'), 'utf8'), /Apache License\s+Version 2\.0/);
    });

    it('npx firkin --help works in the project that installed the tarball', () => {
      assert.match(npm(node, project, 'exec', '--offline', '--', 'firkin', '--help'), /Usage:\n {2}firkin serve/);
    });

    it('firkin-client and connect-firkin import (ESM) and require (CommonJS); the server exposes only its package.json', () => {
      writeFileSync(
        join(project, 'load.cjs'),
        `const client = require('firkin-client');
const connect = require('connect-firkin');
let deep;
try { require('firkin/dist/src/cli.js'); deep = 'open'; } catch (e) { deep = e.code; }
console.log(JSON.stringify({ client: typeof client.FirkinClient, store: typeof connect.FirkinStore, server: require('firkin/package.json').name, deep }));
`,
      );
      writeFileSync(
        join(project, 'load.mjs'),
        `import { FirkinClient, FirkinUnavailableError } from 'firkin-client';
import { FirkinStore } from 'connect-firkin';
console.log(JSON.stringify({ client: typeof FirkinClient, error: typeof FirkinUnavailableError, store: typeof FirkinStore }));
`,
      );
      const run = (file: string): unknown => JSON.parse(execFileSync(node, [file], { cwd: project, env, encoding: 'utf8', timeout: 30_000, stdio: ['ignore', 'pipe', 'pipe'] }));
      assert.deepEqual(run('load.cjs'), { client: 'function', store: 'function', server: 'firkin', deep: 'ERR_PACKAGE_PATH_NOT_EXPORTED' });
      assert.deepEqual(run('load.mjs'), { client: 'function', error: 'function', store: 'function' });
    });

    it('the installed firkin serves, firkin-client talks to it, connect-firkin stores a session through it', async () => {
      writeFileSync(join(project, 'config.yaml'), JSON.stringify({ listen_port: 0, workers: 1, embedded: { path: 'data' } }), { mode: 0o600 });
      const server = spawn(join(project, 'node_modules', '.bin', 'firkin'), ['serve', '--config', 'config.yaml'], { cwd: project, env, stdio: ['ignore', 'pipe', 'pipe'] });
      atFileEnd(() => server.exitCode === null && server.kill('SIGKILL'));
      let stderr = '';
      server.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      let seen = '';
      const url = await new Promise<string>((resolve, reject) => {
        server.stdout.on('data', (c: Buffer) => {
          seen += c.toString();
          const m = /"url":"(http:[^"]+)"/.exec(seen);
          if (m && seen.includes('"msg":"listening"')) resolve(m[1]!);
        });
        server.on('exit', (code) => reject(new Error(`firkin exited ${code}: ${stderr}`)));
      });
      // The server runs on the Node.js under test, its data beside the config.
      assert.ok(seen.includes(`"node_version":"v${version}"`), seen);
      assert.ok(existsSync(join(project, 'data')), 'embedded.path: data, beside config.yaml');
      // A user's program, run from the project: both packages resolve from its node_modules.
      writeFileSync(
        join(project, 'use.mjs'),
        `import { FirkinClient } from 'firkin-client';
import { FirkinStore } from 'connect-firkin';
const client = new FirkinClient({ baseUrl: '${url}/sessions/v1/' });
const { etag } = await client.set('key/1', 'hello', { ttl: 60 });
const got = await client.get('key/1');
const store = new FirkinStore({ client });
await new Promise((ok, fail) => store.set('sid', { cookie: { expires: new Date(Date.now() + 60000) }, user: 'ann' }, (e) => (e ? fail(e) : ok())));
const session = await new Promise((ok, fail) => store.get('sid', (e, s) => (e ? fail(e) : ok(s))));
console.log(JSON.stringify({ same: got.etag === etag, value: got.value.toString(), ttl: got.ttl, touched: await client.touch('key/1'), user: session.user }));
client.close();
`,
      );
      const result = JSON.parse(execFileSync(node, ['use.mjs'], { cwd: project, env, encoding: 'utf8', timeout: 30_000 })) as Record<string, unknown>;
      assert.deepEqual({ ...result, ttl: (result.ttl as number) <= 60 }, { same: true, value: 'hello', ttl: true, touched: true, user: 'ann' });
      server.kill('SIGTERM');
      await new Promise((resolve) => server.once('exit', resolve));
      assert.equal(server.exitCode, 0, stderr);
    });
  });
}
