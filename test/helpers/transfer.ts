/**
 * Running `firkin export`, `firkin import` and `firkin backup` as an operator does: real
 * processes, a real pipe between export and import, their exit codes and output.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, createReadStream, openSync, readFileSync } from 'node:fs';
import { FIRKIN_BIN } from './process.js';
import { atFileEnd } from './tmp.js';

export interface Ran {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Collect a child's output and exit code. */
export function finished(child: ChildProcess, stdout = true): Promise<Ran> {
  atFileEnd(() => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL'));
  let out = '';
  let err = '';
  if (stdout) child.stdout?.on('data', (d: Buffer) => (out += d.toString('utf8')));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString('utf8')));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: out, stderr: err }));
  });
}

/** `firkin ARGS`, its stdin from `input` (a string, or a file to read), or nothing. */
export function firkinAsync(args: readonly string[], input?: { text?: string; file?: string }): Promise<Ran> {
  const child = spawn(process.execPath, [FIRKIN_BIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  const done = finished(child);
  child.stdin!.on('error', () => undefined); // a command that refuses its input stops reading it
  if (input?.file !== undefined) createReadStream(input.file).pipe(child.stdin!);
  else child.stdin!.end(input?.text ?? '');
  return done;
}

/** `firkin export --config FROM [...] > FILE`. */
export function exportTo(configFile: string, file: string, ...extra: string[]): Promise<Ran> {
  const fd = openSync(file, 'w', 0o600);
  const child = spawn(process.execPath, [FIRKIN_BIN, 'export', '--config', configFile, ...extra], { stdio: ['ignore', fd, 'pipe'] });
  closeSync(fd);
  return finished(child, false);
}

/** `firkin export --config FROM | firkin import --config TO`: both exit codes and outputs. */
export async function pipeline(from: string, to: string, options: { exportArgs?: string[]; importArgs?: string[] } = {}): Promise<{ exported: Ran; imported: Ran }> {
  const exporter = spawn(process.execPath, [FIRKIN_BIN, 'export', '--config', from, ...(options.exportArgs ?? [])], { stdio: ['ignore', 'pipe', 'pipe'] });
  const importer = spawn(process.execPath, [FIRKIN_BIN, 'import', '--config', to, ...(options.importArgs ?? [])], { stdio: [exporter.stdout!, 'pipe', 'pipe'] });
  // The importer holds its own copy of the pipe: this process's end, never read, would keep the exporter's 'close' from coming.
  exporter.stdout!.destroy();
  const [exported, imported] = await Promise.all([finished(exporter, false), finished(importer)]);
  return { exported, imported };
}

/** The records of a stream file, parsed (for tests that look inside one). */
export function streamRecords(file: string): { ns: string; key: string; value: Buffer; ttl: number | null }[] {
  const lines = readFileSync(file, 'utf8').trim().split('\n').slice(1, -1);
  return lines.map((line) => {
    const r = JSON.parse(line) as { ns: string; key: string; value: string; ttl: number | null };
    return { ...r, value: Buffer.from(r.value, 'base64') };
  });
}

/** Anonymous memory a process holds now (heap, buffers: not the mapped store's pages), in bytes; undefined once it is gone. */
export function rssAnon(pid: number): number | undefined {
  try {
    const m = /^RssAnon:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? undefined : Number(m[1]) * 1024;
  } catch {
    return undefined;
  }
}
