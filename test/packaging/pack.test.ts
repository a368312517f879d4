/**
 * The three npm packages as a user gets them: `npm pack` of firkin, firkin-client
 * and connect-firkin, installed from their tarballs into an empty project. The
 * installed `firkin` command answers --help and serves; the installed firkin-client
 * talks to it; connect-firkin imports and stores a session through it. The server's
 * tarball holds what running needs and no tests, CI or tooling.
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
import { readFileSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { atFileEnd, tempDir } from '../helpers/tmp.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const PACKAGES = [
  { name: 'firkin', dir: '.' },
  { name: 'firkin-client', dir: 'packages/client' },
  { name: 'connect-firkin', dir: 'packages/connect-firkin' },
] as const;
interface Packed {
  readonly name: string;
  readonly filename: string;
  readonly files: ReadonlyArray<{ path: string }>;
}
// Node.js 24 (this process's) first on PATH: the firkin command runs `node`.
const env = { ...process.env, PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}`, npm_config_update_notifier: 'false' };
const npm = (cwd: string, ...args: string[]): string => execFileSync('npm', args, { cwd, env, encoding: 'utf8', timeout: 300_000, stdio: ['ignore', 'pipe', 'pipe'] });
const lockedVersion = (name: string): string =>
  (JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version: string }> }).packages[`node_modules/${name}`]!.version;

describe('npm packages', () => {
  const out = tempDir('firkin-pack-');
  const project = tempDir('firkin-pack-project-');
  let packed: Map<string, Packed>;

  before(() => {
    const args = ['pack', '--ignore-scripts', '--json', '--pack-destination', out, '--include-workspace-root', '--workspaces'];
    packed = new Map((JSON.parse(npm(root, ...args)) as Packed[]).map((p) => [p.name, p]));
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'pack-test', private: true, type: 'module' }));
    // express-session, connect-firkin's peer dependency, at the version the repository tests with (from npm's cache when it has it).
    const tarballs = PACKAGES.map((p) => join(out, packed.get(p.name)!.filename));
    npm(project, 'install', '--prefer-offline', '--no-audit', '--no-fund', ...tarballs, `express-session@${lockedVersion('express-session')}`);
  });

  it('are licensed Apache-2.0, with a LICENSE file in every tarball and a prepack build', () => {
    assert.deepEqual([...packed.keys()].sort(), PACKAGES.map((p) => p.name).sort());
    for (const { name, dir } of PACKAGES) {
      const pkg = JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8')) as { license: string; scripts: Record<string, string> };
      assert.equal(pkg.license, 'Apache-2.0', name);
      assert.match(pkg.scripts.prepack ?? '', /build/, `${name} builds before packing`);
      const files = packed.get(name)!.files.map((f) => f.path);
      assert.ok(files.includes('LICENSE') && files.includes('README.md'), `${name}: ${files.join(', ')}`);
      assert.match(readFileSync(join(project, 'node_modules', name, 'LICENSE'), 'utf8'), /Apache License\s+Version 2\.0/);
    }
    for (const name of ['firkin-client', 'connect-firkin']) {
      const files = packed.get(name)!.files.map((f) => f.path);
      assert.ok(files.includes('dist/src/index.js') && files.includes('dist/src/index.d.ts'), `${name} ships its code and types`);
      assert.ok(files.every((f) => !f.startsWith('dist/test/') && !f.startsWith('src/') && !f.endsWith('.map')), `${name}: ${files.join(', ')}`);
    }
  });

  it('the server tarball holds what running needs, and no tests, CI scripts or tools', () => {
    const files = packed.get('firkin')!.files.map((f) => f.path);
    for (const needed of ['bin/firkin', 'bin/firkin.js', 'dist/src/cli.js', 'dist/src/storage/embedded/lmdb-engine.js', 'package.json']) {
      assert.ok(files.includes(needed), `${needed} is in the tarball`);
    }
    const unwanted = files.filter((f) => /^(test|dist\/test|dist\/tools|tools|scripts|benchmarks|\.ci|deploy|src|packages)\//.test(f) || f.endsWith('.map') || f.endsWith('.ts'));
    assert.deepEqual(unwanted, []);
  });

  it('npx firkin --help works in the project that installed the tarball', () => {
    assert.match(npm(project, 'exec', '--offline', '--', 'firkin', '--help'), /Usage:\n {2}firkin serve/);
  });

  it('the installed firkin serves, firkin-client talks to it, connect-firkin stores a session through it', async () => {
    writeFileSync(join(project, 'config.yaml'), JSON.stringify({ listen_port: 0, workers: 1, embedded: { path: join(project, 'data') } }), { mode: 0o600 });
    const server = spawn(join(project, 'node_modules', '.bin', 'firkin'), ['serve', '--config', 'config.yaml'], { cwd: project, env, stdio: ['ignore', 'pipe', 'pipe'] });
    atFileEnd(() => server.exitCode === null && server.kill('SIGKILL'));
    let stderr = '';
    server.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const url = await new Promise<string>((resolve, reject) => {
      let seen = '';
      server.stdout.on('data', (c: Buffer) => {
        seen += c.toString();
        const m = /"url":"(http:[^"]+)"/.exec(seen);
        if (m && seen.includes('"msg":"listening"')) resolve(m[1]!);
      });
      server.on('exit', (code) => reject(new Error(`firkin exited ${code}: ${stderr}`)));
    });
    server.stdout.resume();
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
    const result = JSON.parse(execFileSync(process.execPath, ['use.mjs'], { cwd: project, encoding: 'utf8', timeout: 30_000 })) as Record<string, unknown>;
    assert.deepEqual({ ...result, ttl: (result.ttl as number) <= 60 }, { same: true, value: 'hello', ttl: true, touched: true, user: 'ann' });
  });
});
