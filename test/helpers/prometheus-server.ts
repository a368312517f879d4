/**
 * Debian's Prometheus and promtool for the tests: the first on PATH (where `npm test` puts
 * the ones scripts/prerequisites.mjs provisioned when the machine has none), else the
 * provisioned wrappers themselves. A Prometheus runs on a scratch config, a data directory
 * in a temp dir and a free loopback port, and is killed when the test file ends.
 */
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { delimiter, join } from 'node:path';
import { atFileEnd, tempDir } from './tmp.js';
import { until } from './wait.js';

const { DEBIAN_BIN } = (await import(new URL('../../../scripts/prerequisites.mjs', import.meta.url).href)) as { DEBIAN_BIN: string };

/** The program's path: PATH first, then the provisioned wrappers. */
export function program(name: 'prometheus' | 'promtool'): string {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), DEBIAN_BIN];
  for (const dir of dirs) {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // not here
    }
  }
  throw new Error(`${name} not found on PATH nor in ${DEBIAN_BIN}: run node scripts/prerequisites.mjs (it fetches Debian's prometheus package)`);
}

/** Run promtool to its end (at most 60 s): exit code and output. */
export function promtool(...args: string[]): { code: number | null; output: string } {
  const r = spawnSync(program('promtool'), args, { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, output: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}

/** A loopback port nothing listens on (free a moment ago). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export interface Alert {
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly state: 'pending' | 'firing' | 'inactive';
  readonly activeAt?: string;
  readonly value?: string;
}

export interface PrometheusServer {
  readonly url: string;
  /** GET /api/v1/alerts: every pending and firing alert. */
  alerts(): Promise<Alert[]>;
  /** An instant query's result vector. */
  query(promql: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]>;
  /** What Prometheus wrote to stderr so far (its log). */
  log(): string;
}

async function api<T>(url: string): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  const body = (await res.json()) as { status: string; data: T; error?: string };
  if (body.status !== 'success') throw new Error(`${url}: ${body.error ?? res.status}`);
  return body.data;
}

/** Start Prometheus on `config` (prometheus.yml's text) with `files` beside it (name → text). */
export async function startPrometheus(config: string, files: Record<string, string> = {}): Promise<PrometheusServer> {
  const dir = tempDir('firkin-prometheus-');
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text, { mode: 0o600 });
  writeFileSync(join(dir, 'prometheus.yml'), config);
  const port = await freePort();
  const child = spawn(
    program('prometheus'),
    [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`],
    { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  atFileEnd(() => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL'));
  let log = '';
  child.stderr.on('data', (c: Buffer) => (log += c.toString('utf8')));
  let exited: string | undefined;
  child.on('exit', (code, signal) => (exited = `exited (${code ?? signal})`));
  const url = `http://127.0.0.1:${port}`;
  await until(
    async () => {
      if (exited !== undefined) throw new Error(`prometheus ${exited}: ${log}`);
      return (await fetch(`${url}/-/ready`).catch(() => undefined))?.status === 200;
    },
    'Prometheus to be ready',
    20_000,
    100,
  );
  return {
    url,
    alerts: async () => (await api<{ alerts: Alert[] }>(`${url}/api/v1/alerts`)).alerts,
    query: async (promql) =>
      (await api<{ result: { metric: Record<string, string>; value: [number, string] }[] }>(`${url}/api/v1/query?query=${encodeURIComponent(promql)}`)).result,
    log: () => log,
  };
}
