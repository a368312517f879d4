/**
 * Real Cassandra nodes for tests and development: provisioned from Maven Central
 * (jars cached in ~/.cache/firkin/cassandra/<version>), run as detached JVMs with
 * a small heap, one state directory each under $TMPDIR/firkin-cassandra/<name>.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const CASSANDRA_VERSION = '5.0.9';
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
}

/** The single node of `npm run cassandra -- start`. */
export const SINGLE: NodeSpec = { name: 'single', listen: '127.0.0.1', jmxPort: 7199 };

/** The two-data-centre cluster of `npm run cassandra -- cluster start`: one node per DC. */
export const CLUSTER: readonly NodeSpec[] = [
  { name: 'dc1-a', listen: '127.0.0.2', jmxPort: 7299, dc: 'dc1', seeds: '127.0.0.2:7000' },
  { name: 'dc2-a', listen: '127.0.0.3', jmxPort: 7399, dc: 'dc2', seeds: '127.0.0.2:7000' },
];

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

/** JVM options Cassandra 5.0 needs on Java 17 (its conf/jvm17-server.options). */
const JAVA17_OPTIONS = [
  '-Djdk.attach.allowAttachSelf=true',
  ...[
    'java.base/jdk.internal.misc',
    'java.management.rmi/com.sun.jmx.remote.internal.rmi',
    'java.rmi/sun.rmi.registry',
    'java.rmi/sun.rmi.server',
    'java.sql/java.sql',
    'java.base/java.lang.ref',
    'jdk.unsupported/sun.misc',
    'jdk.compiler/com.sun.tools.javac.file',
    'jdk.attach/sun.tools.attach',
  ].map((p) => `--add-exports=${p}=ALL-UNNAMED`),
  ...[
    'java.base/java.lang.module',
    'java.base/jdk.internal.loader',
    'java.base/jdk.internal.ref',
    'java.base/jdk.internal.reflect',
    'java.base/jdk.internal.math',
    'java.base/jdk.internal.module',
    'java.base/jdk.internal.util.jar',
    'jdk.management/com.sun.management.internal',
    'java.base/sun.nio.ch',
    'java.base/java.io',
    'java.base/java.lang.reflect',
    'jdk.compiler/com.sun.tools.javac',
    'java.base/java.lang',
    'java.base/java.util',
  ].map((p) => `--add-opens=${p}=ALL-UNNAMED`),
  '-Dio.netty.tryReflectionSetAccessible=true',
];

/** Download Cassandra's jars once (Maven Central), return the lib directory. */
export function ensureJars(version = CASSANDRA_VERSION): string {
  const lib = join(CACHE_DIR, version, 'lib');
  if (existsSync(join(lib, `cassandra-all-${version}.jar`))) return lib;
  log(`provisioning Cassandra ${version} from Maven Central into ${lib} (first run only)`);
  execFileSync(
    'mvn',
    [
      '-q',
      '-B',
      '-f',
      join(SOURCE_DIR, 'pom.xml'),
      `-Dcassandra.version=${version}`,
      'org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies',
      '-DincludeScope=runtime',
      `-DoutputDirectory=${lib}`,
    ],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
  for (const f of readdirSync(lib)) if (/osx|windows/.test(f)) unlinkSync(join(lib, f));
  return lib;
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
  const lib = ensureJars();
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
  writeFileSync(join(dir, 'conf', 'cassandra.yaml'), yaml + tls);
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
    ...JAVA17_OPTIONS,
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
  const child = spawn('java', args, { detached: true, stdio: ['ignore', out, out] });
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
  log(`${spec.name} answers CQL on ${spec.listen}:9042 after ${((Date.now() - started) / 1000).toFixed(1)} s`);
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
