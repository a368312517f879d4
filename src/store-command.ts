/**
 * `firkin store check` and `firkin store reset`: looking after the embedded store
 * (docs/embedded.md, "Recovery"). Exit codes as cli.ts says.
 */
import type { FileLock } from './base/internals.js';

/** The store's instance lock while a reset moves it aside, held (and referenced) until the process exits. */
let resetLock: FileLock | undefined;

/**
 * `firkin store check`: probe the store and read every record, read-only (a store being
 * served too). 0: no damage found; 3: damaged; 1: the check could not run.
 */
export async function storeCheck(dir: string): Promise<number> {
  const { probeStore, StoreRefused, EXIT_STORE_UNUSABLE } = await import('./storage/embedded/probe.js');
  let report;
  try {
    report = await probeStore(dir, { deep: true, timeoutMs: 24 * 3600_000 });
  } catch (err) {
    if (err instanceof StoreRefused) {
      process.stdout.write(`DAMAGED: ${err.message}\n`);
      return EXIT_STORE_UNUSABLE;
    }
    process.stderr.write(`firkin: store check failed: ${(err as Error).message}\n`);
    return 1;
  }
  if (report.fresh) {
    process.stdout.write(`ok: there is no store at ${report.file} yet (the first start creates one)\n`);
    return 0;
  }
  let damaged = 0;
  for (const c of report.checks ?? []) {
    const bad = c.damaged.checksum + c.damaged.shape + c.damaged.undecodable;
    damaged += bad;
    process.stdout.write(
      `namespace ${c.namespace}: ${c.records} records, ${bad} damaged (${c.damaged.checksum} fail their checksum, ` +
        `${c.damaged.undecodable} do not decode, ${c.damaged.shape} of another shape), ${c.legacy} from format 1 not yet checksummed, ` +
        `${c.expired} expired awaiting the sweeper\n`,
    );
  }
  if (damaged === 0) {
    process.stdout.write(`ok: ${report.file} (format ${report.format ?? 'none yet'}, ${report.facts?.bytes ?? 0} bytes): every record read and checked, none damaged\n`);
    return 0;
  }
  process.stdout.write(
    `DAMAGED: ${damaged} record(s) of ${report.file} are damaged: they are never served (500); a write of the key replaces one, ` +
      'a delete removes it. Every other record is sound (docs/embedded.md, "Recovery")\n',
  );
  return EXIT_STORE_UNUSABLE;
}

/**
 * `firkin store reset`: with the instance lock (no server may be using it), move a damaged
 * store aside; an undamaged one only with --force. 0: moved (or nothing there); 1: a
 * server holds the store, the store is not damaged (without --force), or it failed.
 */
export async function storeReset(dir: string, force: boolean): Promise<number> {
  const { lockStore } = await import('./storage/embedded/instance-lock.js');
  const { probeStore, StoreRefused } = await import('./storage/embedded/probe.js');
  const { setAside } = await import('./storage/embedded/recovery.js');
  try {
    resetLock = lockStore(dir);
  } catch (err) {
    process.stderr.write(`firkin: store reset refused: ${(err as Error).message}: stop it first\n`);
    return 1;
  }
  let damage: string | undefined;
  try {
    const report = await probeStore(dir);
    if (report.fresh) {
      process.stdout.write(`nothing to do: there is no store at ${report.file}\n`);
      return 0;
    }
  } catch (err) {
    if (!(err instanceof StoreRefused)) {
      process.stderr.write(`firkin: store reset: the store could not be probed: ${(err as Error).message}; nothing moved\n`);
      return 1;
    }
    damage = err.reason;
  }
  if (damage === undefined && !force) {
    process.stderr.write(
      'firkin: store reset refused: the store is not damaged (the probe found nothing wrong with it); nothing moved. ' +
        'To discard every session in it anyway, add --force\n',
    );
    return 1;
  }
  const moved = setAside(dir, damage === undefined ? 'reset' : 'damaged');
  if (moved === undefined) {
    process.stdout.write('nothing to do: the store is gone already\n');
    return 0;
  }
  process.stdout.write(
    `moved ${dir}/firkin.mdb (${moved.bytes} bytes${damage === undefined ? '' : `; ${damage}`}) to ${moved.to}: ` +
      'the next start begins with an empty store. The sessions it held are out of service, not deleted ' +
      '(docs/embedded.md, "Recovery"); remove the file once you no longer need it\n',
  );
  return 0;
}
