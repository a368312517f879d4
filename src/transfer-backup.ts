/** `firkin backup` (transfer-shared.ts says what the three transfer commands share). */
import { closeSync, existsSync, fsyncSync, linkSync, mkdirSync, mkdtempSync, openSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { FirkinConfig } from './config/types.js';
import { say, seconds } from './transfer-shared.js';

/**
 * `firkin backup DIR`: a consistent, compacted copy of the live embedded store as
 * DIR/firkin.mdb, which a server whose `embedded.path` is DIR serves as it is. Written
 * in a private directory of its own inside DIR (mode 0700, whatever DIR's mode), flushed
 * and checked as a server checks a store at start-up, and only then linked under its
 * final name, which must not exist (a link never replaces a file): DIR/firkin.mdb is
 * whole and checked, or absent. DIR is created (mode 0700) if it does not exist; an
 * existing DIR keeps its mode. 0: written; 1: it failed (nothing under the final name);
 * 2: bad usage (Cassandra, DIR holds a store already, or one appeared there meanwhile).
 */
export async function backupStore(config: FirkinConfig, dir: string): Promise<number> {
  if (config.storage !== 'embedded') {
    say(
      `backup copies the embedded store; ${config.file ?? 'the config'} uses Cassandra: take a snapshot on every node with ` +
        `\`nodetool snapshot -t <name> ${config.cassandra?.keyspace ?? '<keyspace>'}\` (docs/operations.md, "Backups")`,
    );
    return 2;
  }
  const { DATA_FILE, restrictMode } = await import('./storage/embedded/files.js');
  const { EmbeddedEngine } = await import('./storage/embedded/lmdb-engine.js');
  const { probeStore } = await import('./storage/embedded/probe.js');
  const to = resolve(dir);
  const file = join(to, DATA_FILE);
  if (resolve(config.embedded.path) === to) {
    say(`backup: ${to} is the store's own directory (embedded.path): give another directory`);
    return 2;
  }
  if (existsSync(file)) {
    say(`backup: ${file} exists: a backup never overwrites a store; give an empty directory`);
    return 2;
  }
  say(`backup: embedded store at ${config.embedded.path}`);
  const started = Date.now();
  let work: string | undefined;
  const cleanUp = (): void => {
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  };
  const failed = (err: unknown): number => {
    cleanUp();
    say(`backup failed: ${(err as Error).message}; nothing was written under ${file}`);
    return 1;
  };
  let probe: Awaited<ReturnType<typeof probeStore>>;
  try {
    // Only a directory made here is given mode 0700: an existing DIR is left as it is (the copy is 0600 in any case).
    if (mkdirSync(to, { recursive: true, mode: 0o700 }) !== undefined) restrictMode(to, 0o700);
    // Mode 0700: nobody else reads the copy while it is written, whatever DIR's mode and the umask.
    work = mkdtempSync(join(to, '.firkin-backup-'));
    const copy = join(work, DATA_FILE);
    const engine = new EmbeddedEngine({ path: config.embedded.path, readOnly: true });
    try {
      await engine.backup(copy);
    } finally {
      await engine.close();
    }
    restrictMode(copy, 0o600);
    fsyncPath(copy);
    // Checked before it takes its name: the copy passes the start-up check a server runs on it.
    try {
      probe = await probeStore(work);
    } catch (err) {
      throw new Error(`the copy does not pass the start-up check: ${(err as Error).message}`, { cause: err });
    }
    try {
      linkSync(copy, file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      cleanUp();
      say(`backup: ${file} appeared during the backup: a backup never overwrites a store; give an empty directory`);
      return 2;
    }
  } catch (err) {
    return failed(err);
  }
  try {
    cleanUp();
    fsyncPath(to);
  } catch (err) {
    rmSync(file, { force: true });
    return failed(err);
  }
  const source = statSync(join(config.embedded.path, DATA_FILE)).size;
  process.stdout.write(
    `backup: ${file}: ${probe.facts?.bytes ?? 0} bytes (the store's file: ${source}), format ${probe.format ?? 'none'}, ` +
      `namespaces ${probe.namespaces?.join(', ') || 'none'}, a consistent copy as of ${new Date(started).toISOString()}, in ${seconds(Date.now() - started)}; ` +
      `a server whose embedded.path is ${to} serves it (\`firkin store check\` reads every record of it)\n`,
  );
  return 0;
}

/** Flush a file's data, or a directory's entries, to the disk. */
function fsyncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
