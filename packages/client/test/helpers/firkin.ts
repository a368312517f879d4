/**
 * A real `firkin serve` for the packages' tests: the repository's own server
 * (bin/firkin.js, built by the root build), on an ephemeral port, with the config
 * a test gives, stopped and its directory removed when the test file ends.
 * connect-firkin's tests use it too (from this package's compiled tests).
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';

/** The repository's root (this file runs from packages/client/dist/test/helpers/). */
export const REPO_ROOT = fileURLToPath(new URL('../../../../../', import.meta.url));
const FIRKIN_BIN = join(REPO_ROOT, 'bin', 'firkin.js');

const cleanups: Array<() => void> = [];
after(() => {
  for (const cleanup of cleanups.reverse()) cleanup();
});

/** A fresh directory, removed when the test file ends. */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'firkin-pkg-test-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface Firkin {
  /** scheme://host:port of the listener. */
  readonly origin: string;
  readonly dir: string;
}

/** Write `config` to `dir/config.yaml` (JSON is YAML): an ephemeral port, one process, the embedded engine in `dir/data`. */
function writeConfig(dir: string, config: Record<string, unknown>): string {
  const file = join(dir, 'config.yaml');
  const engine = config.cassandra === undefined ? { embedded: { path: join(dir, 'data') } } : {};
  writeFileSync(file, JSON.stringify({ listen_port: 0, workers: 1, ...engine, ...config }), { mode: 0o600 });
  return file;
}

/** Run `firkin <args> --config` on `config` to its end (e.g. `schema --apply`); fails on a non-zero exit. */
export function runFirkin(config: Record<string, unknown>, ...args: string[]): void {
  const dir = tempDir();
  const r = spawnSync(process.execPath, [FIRKIN_BIN, ...args, '--config', writeConfig(dir, config)], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`firkin ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
}

/** Start `firkin serve` on `config` (in a fresh directory unless given) and wait until it listens. */
export async function startFirkin(config: Record<string, unknown>, dir = tempDir()): Promise<Firkin> {
  const file = writeConfig(dir, config);
  const child = spawn(process.execPath, [FIRKIN_BIN, 'serve', '--config', file], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  cleanups.push(() => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL'));
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const origin = await new Promise<string>((resolve, reject) => {
    let partial = '';
    child.stdout.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop()!;
      for (const line of lines) {
        const entry = JSON.parse(line) as { msg?: string; url?: string };
        if (entry.msg === 'listening' && entry.url !== undefined) resolve(entry.url);
      }
    });
    child.on('exit', (code) => reject(new Error(`firkin exited (${code}) before listening: ${stderr}`)));
    setTimeout(() => reject(new Error(`firkin did not listen within 20 s: ${stderr}`)), 20_000).unref();
  });
  // Keep draining stdout, or a chatty server would block on a full pipe.
  child.stdout.resume();
  return { origin, dir };
}

/**
 * The shared Cassandra 5.0 single node on 127.0.0.1 (the root's `npm test` starts it;
 * started here, idempotently, when a package's tests run alone).
 */
export function cassandraSection(keyspace: string): Record<string, unknown> {
  execFileSync(process.execPath, [join(REPO_ROOT, 'dist', 'tools', 'cassandra', 'cli.js'), 'start'], { stdio: 'ignore', timeout: 600_000 });
  return { hosts: ['127.0.0.1'], port: 9042, keyspace, local_dc: 'datacenter1', replication: { datacenter1: 1 } };
}

/** Certificates made with openssl: a CA, a server certificate for 127.0.0.1, and client certificates. */
export class TestPki {
  readonly dir = tempDir();
  readonly ca = join(this.dir, 'ca.pem');
  readonly caKey = join(this.dir, 'ca.key');
  #serial = 1;

  constructor() {
    openssl('req', '-x509', ...EC, '-keyout', this.caKey, '-out', this.ca, '-days', '1', '-subj', '/CN=firkin-client test CA');
  }

  /** Files of a certificate for `cn` signed by the CA. */
  issue(cn: string, usage: 'serverAuth' | 'clientAuth'): { cert: string; key: string } {
    const [key, csr, cert, ext] = ['key', 'csr', 'pem', 'ext'].map((suffix) => join(this.dir, `${cn}.${suffix}`)) as [string, string, string, string];
    openssl('req', ...EC, '-keyout', key, '-out', csr, '-subj', `/CN=${cn}`);
    writeFileSync(ext, `extendedKeyUsage=${usage}\n${usage === 'serverAuth' ? 'subjectAltName=IP:127.0.0.1\n' : ''}`);
    openssl('x509', '-req', '-in', csr, '-CA', this.ca, '-CAkey', this.caKey, '-set_serial', String(this.#serial++), '-days', '1', '-out', cert, '-extfile', ext);
    return { cert, key };
  }
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
const openssl = (...args: string[]): void => void execFileSync('openssl', args, { stdio: 'ignore' });
