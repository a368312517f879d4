// test-tier: full (npm audit asks the npm registry)
/**
 * The dependency rules of DEPENDENCIES.md, checked on every run: a small
 * production tree, exact versions, a committed lockfile that matches, no
 * package that needs its install script, and no known vulnerability.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const read = (file: string): string => readFileSync(`${root}${file}`, 'utf8');
const pkg = JSON.parse(read('package.json')) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
  workspaces: string[];
};
const lock = JSON.parse(read('package-lock.json')) as {
  lockfileVersion: number;
  packages: Record<
    string,
    { version?: string; dev?: boolean; link?: boolean; resolved?: string; hasInstallScript?: boolean; dependencies?: Record<string, string> }
  >;
};
/** The most production packages allowed without a justification in DEPENDENCIES.md. */
const MAX_PRODUCTION_PACKAGES = 40;

describe('dependencies', () => {
  it(`keep the installed production tree under ${MAX_PRODUCTION_PACKAGES} packages, and DEPENDENCIES.md says how many`, () => {
    // The server's tree alone: the workspaces (firkin-client, connect-firkin) are packages of their own, not the server's dependencies.
    const out = execFileSync('npm', ['ls', '--omit=dev', '--all', '--parseable', '--workspaces=false'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const count = out.trim().split('\n').length - 1; // the first line is the project itself
    assert.ok(count > 0 && count < MAX_PRODUCTION_PACKAGES, `${count} production packages`);
    assert.match(read('DEPENDENCIES.md'), new RegExp(`production tree is ${count} packages`), 'DEPENDENCIES.md states the current count');
  });

  it('pins every direct dependency to an exact version that the lockfile holds', () => {
    assert.equal(lock.lockfileVersion, 3);
    for (const [name, range] of Object.entries({ ...pkg.dependencies, ...pkg.devDependencies })) {
      assert.match(range, /^\d+\.\d+\.\d+$/, `${name}@${range} is not an exact version`);
      assert.equal(lock.packages[`node_modules/${name}`]?.version, range, `the lockfile holds ${name}@${range}`);
    }
    assert.deepEqual(lock.packages['']?.dependencies, pkg.dependencies, 'the lockfile matches package.json');
  });

  it('pins the workspace packages\' dependencies exactly too (peer dependencies are ranges on purpose)', () => {
    assert.deepEqual(pkg.workspaces, ['packages/client', 'packages/connect-firkin']);
    for (const dir of pkg.workspaces) {
      const ws = JSON.parse(read(`${dir}/package.json`)) as { dependencies?: Record<string, string>; devDependencies?: Record<string, string> };
      assert.deepEqual(lock.packages[dir]?.dependencies ?? {}, ws.dependencies ?? {}, `the lockfile matches ${dir}/package.json`);
      for (const [name, version] of Object.entries({ ...ws.dependencies, ...ws.devDependencies })) {
        assert.match(version, /^\d+\.\d+\.\d+$/, `${dir}: ${name}@${version} is not an exact version`);
        // A workspace's dependency is hoisted to the root, or linked to the workspace itself (firkin-client).
        const installed = lock.packages[`node_modules/${name}`];
        const locked = installed?.link === true ? lock.packages[installed.resolved ?? '']?.version : installed?.version;
        assert.equal(locked, version, `the lockfile holds ${name}@${version} for ${dir}`);
      }
    }
  });

  it('lists and justifies every production dependency', () => {
    const doc = read('DEPENDENCIES.md');
    for (const [name, version] of Object.entries(pkg.dependencies)) {
      assert.ok(doc.includes(`| \`${name}\` ${version} |`), `${name} ${version} has a row in DEPENDENCIES.md`);
    }
  });

  it('needs no install script: those that have one are known to run without it', () => {
    // npm 11 does not run dependency install scripts; this suite passing proves the two below work without theirs.
    const withScripts = Object.entries(lock.packages)
      .filter(([path, p]) => path !== '' && p.hasInstallScript && !p.dev)
      .map(([path]) => path.replace(/^.*node_modules\//, ''))
      .sort();
    assert.deepEqual(withScripts, ['lmdb', 'msgpackr-extract'], 'a new package with an install script needs a review');
    const doc = read('DEPENDENCIES.md');
    for (const name of withScripts) assert.ok(doc.includes(`\`${name}\``) && /prebuilt/.test(doc), `${name} is explained`);
  });

  it('has no known vulnerability (npm audit --omit=dev)', (t) => {
    const audit = spawnSync('npm', ['audit', '--omit=dev', '--json'], { cwd: root, encoding: 'utf8' });
    const report = JSON.parse(audit.stdout || '{}') as {
      metadata?: { vulnerabilities?: Record<string, number> };
      message?: string;
      error?: { summary?: string };
    };
    if (report.metadata?.vulnerabilities === undefined) {
      // The registry this machine reaches answers the audit endpoint with 405: say so loudly rather than pass silently.
      const why = report.message ?? report.error?.summary ?? 'no report';
      assert.match(why, /405 Method Not Allowed|ENOTFOUND|EAI_AGAIN|ECONNREFUSED/, 'the only acceptable failure is an unreachable audit endpoint');
      t.skip(`npm audit could not run here: ${why}`); // reported as skipped, not passed
      return;
    }
    const v = report.metadata.vulnerabilities;
    assert.equal((v.low ?? 0) + (v.moderate ?? 0) + (v.high ?? 0) + (v.critical ?? 0), 0, JSON.stringify(v));
  });
});
