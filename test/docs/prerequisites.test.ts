/**
 * README.md's "Run every test" lists the programs the tests need exactly as
 * scripts/prerequisites.mjs (what `npm test` checks first, and `.ci/run` installs
 * from) does: those to install, with their Debian packages and the install command,
 * and those `npm test` fetches itself when missing.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

interface Prerequisite {
  readonly program: string;
  readonly debian: string;
  readonly provisionable?: boolean;
  readonly backports?: string;
}

const repoFile = (path: string): string => fileURLToPath(new URL(`../../../${path}`, import.meta.url));
const { PREREQUISITES } = (await import(new URL('../../../scripts/prerequisites.mjs', import.meta.url).href)) as { PREREQUISITES: Prerequisite[] };
const README = readFileSync(repoFile('README.md'), 'utf8');

/** The rows of the README table whose first header cell is `header`: "program → package" for each. */
function table(header: string): string[] {
  const lines = README.split('\n');
  const at = lines.findIndex((l) => l.startsWith(`| ${header} |`));
  assert.ok(at >= 0, `README has a table headed "${header}"`);
  const rows: string[] = [];
  for (const line of lines.slice(at + 2)) {
    if (!line.startsWith('|')) break;
    const [program, pkg] = line.split('|').slice(1, 3).map((cell) => /`([^`]+)`/.exec(cell)?.[1]);
    assert.ok(program && pkg, `a program and a package in: ${line}`);
    rows.push(`${program} → ${pkg}`);
  }
  return rows.sort();
}

const listed = (provisionable: boolean): string[] =>
  PREREQUISITES.filter((p) => Boolean(p.provisionable) === provisionable)
    .map((p) => `${p.program} → ${p.debian}`)
    .sort();

describe('the README and scripts/prerequisites.mjs', () => {
  it('list the same programs to install, with the same Debian packages', () => {
    assert.deepEqual(table('must be installed'), listed(false));
  });

  it('list the same programs that npm test fetches when they are missing', () => {
    assert.deepEqual(table('fetched when missing'), listed(true));
  });

  it("give an install command for exactly the packages to install (backports' apart)", () => {
    const toInstall = PREREQUISITES.filter((p) => !p.provisionable);
    const plain = /^sudo apt-get install -y ((?:[a-z0-9.+-]+ ?)+)$/m.exec(README);
    assert.ok(plain, 'README shows sudo apt-get install -y ...');
    assert.deepEqual(plain[1]!.trim().split(' ').sort(), [...new Set(toInstall.filter((p) => !p.backports).map((p) => p.debian))].sort());
    for (const p of toInstall.filter((q) => q.backports)) {
      assert.match(README, new RegExp(`^sudo apt-get install -y -t ${p.backports} ${p.debian}$`, 'm'));
    }
  });

  it('are what npm test checks first and what CI installs from', () => {
    const { scripts } = JSON.parse(readFileSync(repoFile('package.json'), 'utf8')) as { scripts: Record<string, string> };
    for (const name of ['test', 'test:unit', 'test:faults']) assert.match(scripts[name]!, /^node scripts\/prerequisites\.mjs\b/, `${name} checks first`);
    const ci = readFileSync(repoFile('.ci/run'), 'utf8');
    assert.match(ci, /^node scripts\/prerequisites\.mjs --install$/m);
    assert.match(ci, /^npm ci\nnpm test\n?$/m, "then the README's commands");
  });
});
