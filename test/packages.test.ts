/**
 * The three npm packages (firkin, firkin-client, connect-firkin) are ready to publish
 * together: none private, one version in lockstep (connect-firkin's dependency on
 * firkin-client included, and package-lock.json agreeing), one `engines` equal to what
 * the `firkin` launcher enforces, the fields a registry page and an installer read, a
 * CHANGELOG each, and READMEs that say how to install them today. test/packaging/ packs,
 * installs and runs them.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
interface Manifest {
  name: string;
  version: string;
  private?: boolean;
  description?: string;
  license?: string;
  type?: string;
  engines?: { node?: string };
  files?: string[];
  exports?: Record<string, unknown>;
  types?: string;
  bin?: Record<string, string>;
  keywords?: string[];
  repository?: { type: string; url: string; directory?: string };
  homepage?: string;
  bugs?: unknown;
  peerDependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  scripts?: Record<string, string>;
}
const PACKAGES = [
  { name: 'firkin', dir: '.' },
  { name: 'firkin-client', dir: 'packages/client' },
  { name: 'connect-firkin', dir: 'packages/connect-firkin' },
] as const;
const manifest = (dir: string): Manifest => JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8')) as Manifest;
const manifests = PACKAGES.map((p) => ({ ...p, pkg: manifest(p.dir) }));
const [server, client, connect] = manifests.map((m) => m.pkg) as [Manifest, Manifest, Manifest];

describe('the npm packages, ready to publish', () => {
  it('are the three named, none marked private', () => {
    for (const { name, pkg } of manifests) {
      assert.equal(pkg.name, name);
      assert.equal(pkg.private, undefined, `${name} is not private: npm publish would refuse it`);
      assert.ok((pkg.description ?? '').length > 20, `${name} has a description`);
      assert.ok((pkg.keywords ?? []).length > 0, `${name} has keywords`);
      assert.equal(pkg.license, 'Apache-2.0', name);
      assert.equal(pkg.type, 'module', name);
      assert.match(pkg.scripts?.prepack ?? '', /build/, `${name} builds before packing`);
    }
  });

  it('share one version, and connect-firkin depends on the firkin-client of that version', () => {
    const versions = new Set(manifests.map((m) => m.pkg.version));
    assert.equal(versions.size, 1, `versions in lockstep: ${manifests.map((m) => `${m.name}@${m.pkg.version}`).join(', ')}`);
    const [version] = versions;
    assert.match(version!, /^\d+\.\d+\.\d+$/);
    assert.equal(connect.peerDependencies?.['firkin-client'], `^${version}`);
    assert.equal(connect.devDependencies?.['firkin-client'], version);
    const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { version: string; packages: Record<string, Manifest> };
    assert.equal(lock.version, version, 'package-lock.json');
    for (const { name, dir, pkg } of manifests) {
      const locked = lock.packages[dir === '.' ? '' : dir]!;
      assert.equal(locked.version, version, `package-lock.json: ${name}`);
      assert.deepEqual(locked.engines, pkg.engines, `package-lock.json: ${name}'s engines`);
    }
  });

  it('need the same Node.js, the one the firkin launcher enforces', () => {
    const engines = new Set(manifests.map((m) => m.pkg.engines?.node));
    assert.deepEqual([...engines], ['>=22.13'], 'one engines.node for the three');
    const launcher = readFileSync(join(root, 'bin', 'firkin.js'), 'utf8');
    const needed = /var NEEDED = \[(\d+), (\d+), (\d+)\];/.exec(launcher);
    assert.ok(needed, 'bin/firkin.js declares NEEDED');
    assert.equal(`>=${needed[1]}.${needed[2]}${needed[3] === '0' ? '' : `.${needed[3]}`}`, server.engines?.node, 'bin/firkin.js refuses exactly what engines excludes');
  });

  it('declare their entry points: the client packages their module and types, the server its command and nothing to import', () => {
    for (const pkg of [client, connect]) {
      assert.deepEqual(pkg.exports, { '.': { types: './dist/src/index.d.ts', default: './dist/src/index.js' } }, pkg.name);
      assert.equal(pkg.types, './dist/src/index.d.ts', pkg.name);
      for (const file of ['src/index.ts']) assert.ok(existsSync(join(root, PACKAGES.find((p) => p.name === pkg.name)!.dir, file)), `${pkg.name}: ${file}`);
    }
    assert.deepEqual(server.bin, { firkin: 'bin/firkin' });
    assert.deepEqual(server.exports, { './package.json': './package.json' }, 'the server has no library API: deep imports are closed');
  });

  it('ship a README, a CHANGELOG and the licence each; the server its deploy files and DEPENDENCIES.md too', () => {
    for (const { name, dir, pkg } of manifests) {
      for (const file of ['README.md', 'CHANGELOG.md', 'LICENSE']) {
        assert.ok(pkg.files?.includes(file), `${name}: files lists ${file}`);
        assert.ok(existsSync(join(root, dir, file)), `${name}: ${dir}/${file} exists`);
      }
      const changelog = readFileSync(join(root, dir, 'CHANGELOG.md'), 'utf8');
      assert.match(changelog, /^# Changelog/m, `${name}: CHANGELOG.md`);
      assert.match(changelog, /^## Unreleased/m, `${name}: CHANGELOG.md has an Unreleased section`);
    }
    for (const entry of ['bin/', 'dist/src/', 'deploy/', 'docs/', 'DEPENDENCIES.md']) assert.ok(server.files?.includes(entry), `firkin: files lists ${entry}`);
  });

  it('say where their repository is the same way, if at all', () => {
    const repositories = manifests.map((m) => m.pkg.repository);
    if (repositories.every((r) => r === undefined)) return;
    for (const { name, dir, pkg } of manifests) {
      assert.equal(pkg.repository?.url, server.repository?.url, `${name}: repository.url`);
      assert.equal(pkg.repository?.directory, dir === '.' ? undefined : dir, `${name}: repository.directory`);
    }
  });

  it('READMEs say how to install from the tarballs today, and the name each will be published under', () => {
    const version = server.version;
    const readme = (dir: string): string => readFileSync(join(root, dir, 'README.md'), 'utf8');
    const main = readme('.');
    for (const command of ['npm pack', `npm install ./firkin-${version}.tgz`, `firkin-client-${version}.tgz`, `connect-firkin-${version}.tgz`]) {
      assert.ok(main.includes(command), `README.md shows ${command}`);
    }
    assert.match(readme('packages/client'), new RegExp(`npm install \\S*firkin-client-${version.replaceAll('.', '\\.')}\\.tgz`));
    assert.match(readme('packages/client'), /published as `firkin-client`/);
    assert.match(readme('packages/connect-firkin'), new RegExp(`connect-firkin-${version.replaceAll('.', '\\.')}\\.tgz`));
    assert.match(readme('packages/connect-firkin'), /published as `connect-firkin`/);
  });
});
