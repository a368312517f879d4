import { spawn, spawnSync, type ChildProcess, type SpawnOptionsWithStdioTuple } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { watchLog } from './secrets.js';
import { atFileEnd, tempDir } from './tmp.js';

export const FIRKIN_BIN = fileURLToPath(new URL('../../../bin/firkin.js', import.meta.url));

/** Run the `firkin` command to its end (in a fresh directory), as an operator would: exit code and output. */
export function runFirkin(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [FIRKIN_BIN, ...args], { encoding: 'utf8', timeout: 20_000, cwd: tempDir() });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

export interface FirkinProcess {
  readonly child: ChildProcess;
  readonly url: string;
  /** Every stdout line so far. */
  readonly stdout: string[];
  /** Everything on stderr so far. */
  readonly stderr: string;
  /** Resolves with the exit code (or signal name) when the process ends. */
  readonly exited: Promise<number | string>;
}

export interface SpawnOptions {
  /** Limit the size of any file the process writes (ulimit -f, KiB): a full disk without root. */
  readonly fileSizeLimitKiB?: number;
  /** Where to learn the URL when the log does not go to stdout (e.g. a syslog receiver). */
  readonly url?: Promise<string>;
  /** Environment of the process (default: this one's). */
  readonly env?: NodeJS.ProcessEnv;
  /** The file-mode creation mask to start the process with (e.g. 0o000: every file it creates is as open as it asks). */
  readonly umask?: number;
  /** Mode of the config file written for it (default: what this process's umask gives, usually 0644). */
  readonly configMode?: number;
  /** The command line after `firkin`, given the config file (default: `serve --config <file>`). */
  readonly args?: (configFile: string) => readonly string[];
  /** Called as soon as the process is spawned, before it listens (e.g. to signal it while it starts). */
  readonly onSpawn?: (child: ChildProcess) => void;
}

/** Write `config` to `dir/config.yaml`, run `firkin serve` on it and wait for its "listening" line. */
export async function spawnFirkin(dir: string, config: Record<string, unknown>, options: SpawnOptions = {}): Promise<FirkinProcess> {
  const file = join(dir, 'config.yaml');
  // Fresh metrics at every scrape (tests read what they just did) unless the test says otherwise.
  writeFileSync(file, stringify({ listen_port: 0, workers: 1, metrics_max_age_ms: 0, ...config }), { mode: 0o600 });
  if (options.configMode !== undefined) chmodSync(file, options.configMode);
  const args = [FIRKIN_BIN, ...(options.args?.(file) ?? ['serve', '--config', file])];
  const how: SpawnOptionsWithStdioTuple<'ignore', 'pipe', 'pipe'> = { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env: options.env ?? process.env };
  // Process limits are set by a shell that then becomes the process (same pid).
  const prelude: string[] = [];
  // SIGXFSZ ignored: writes past the limit fail with EFBIG instead of killing the process.
  if (options.fileSizeLimitKiB !== undefined) prelude.push(`trap '' XFSZ; ulimit -f ${options.fileSizeLimitKiB}`);
  if (options.umask !== undefined) prelude.push(`umask ${options.umask.toString(8).padStart(3, '0')}`);
  const child: ChildProcess =
    prelude.length === 0
      ? spawn(process.execPath, args, how)
      : spawn('bash', ['-c', `${prelude.join('; ')}; exec "$0" "$@"`, process.execPath, ...args], how);
  atFileEnd(() => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL'));
  options.onSpawn?.(child);
  const stdout: string[] = [];
  watchLog(`firkin serve in ${dir}`, stdout);
  let stderr = '';
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  const url = await new Promise<string>((resolve, reject) => {
    let partial = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      partial += chunk.toString('utf8');
      const lines = partial.split('\n');
      partial = lines.pop()!;
      for (const line of lines) {
        stdout.push(line);
        const parsed = JSON.parse(line) as { msg?: string; url?: string };
        if (parsed.msg === 'listening' && parsed.url) resolve(parsed.url);
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    options.url?.then(resolve, reject);
    void exited.then((code) => reject(new Error(`firkin exited (${code}) before listening: ${stderr}`)));
    setTimeout(() => reject(new Error(`firkin did not start within 15 s: ${stderr}`)), 15_000).unref();
  });
  return {
    child,
    url,
    stdout,
    get stderr() {
      return stderr;
    },
    exited,
  };
}
