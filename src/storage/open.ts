/**
 * Opening the configured storage engine. Only that engine's modules are loaded: lmdb
 * alone allocates 16 MiB of buffers when imported, and cassandra-driver a few MiB of
 * heap, which a process serving the other engine has no use for.
 */
import type { FirkinConfig } from '../config/types.js';
import { LogEvery } from '../log/log-every.js';
import type { Logger } from '../log/logger.js';
import type { FileLock } from '../base/internals.js';
import type { StorageEngine } from './engine.js';
import type { ProbeReport } from './embedded/probe.js';
import type { SchemaProblem } from './cassandra/schema-check.js';

/** What the rest of the service wants to hear from the engine (the metrics, wired at assembly). */
export interface EngineHooks {
  /** The embedded sweeper removed `count` expired values from `namespace`. */
  readonly onReclaimed?: (namespace: string, count: number) => void;
  /** The embedded engine met a damaged record of `namespace` (and did not serve it). */
  readonly onDamagedRecord?: (namespace: string) => void;
  /** How long the start-up probe of the embedded store took (claimEmbeddedStore), for the log. */
  readonly probeMs?: number;
}

/**
 * The one line that says what of the Cassandra schema is missing and what to run: /readyz
 * answers 503, and those namespaces' requests 503, until it is there.
 */
export function schemaAdvice(problems: readonly SchemaProblem[], configFile: string | undefined): string {
  const what = problems.map((p) => `${p.text} (namespace ${p.namespaces.join(', ')})`).join('; ');
  const command = `firkin schema --config ${configFile ?? 'FILE'}`;
  const missing = problems.some((p) => p.cause !== 'table-mismatch');
  const mismatch = problems.some((p) => p.cause === 'table-mismatch');
  const fixes = [
    missing ? `create what is missing with \`${command} --apply\` (or run the CQL \`${command}\` prints in cqlsh)` : undefined,
    mismatch ? 'point the namespace at a table of its own (namespaces[].table) or recreate that one with those columns' : undefined,
  ].filter((f) => f !== undefined);
  return `Cassandra schema incomplete: ${what}; ${fixes.join('; ')}. Until then /readyz answers 503 and requests to these namespaces 503 (checked again every 10 s and at every /readyz; no restart needed)`;
}

/** Damaged records are logged at once, then at most once a minute per namespace, with the count since. */
const DAMAGE_RELOG_MS = 60_000;

/**
 * Before a server opens the embedded store (`firkin serve`, in the primary before it forks
 * its workers): take the directory's instance lock, then probe the store. Rejects with
 * StoreInUse (another instance holds it), StoreRefused (the store cannot be used as it
 * is) or another Error (the probe could not run). The lock is held until the process
 * exits; keep the returned handle referenced.
 */
export async function claimEmbeddedStore(dir: string): Promise<{ readonly lock: FileLock; readonly probe: ProbeReport }> {
  const { lockStore } = await import('./embedded/instance-lock.js');
  const { probeStore } = await import('./embedded/probe.js');
  const lock = lockStore(dir);
  try {
    return { lock, probe: await probeStore(dir) };
  } catch (err) {
    lock.release();
    throw err;
  }
}

export async function openEngine(config: FirkinConfig, logger: Logger, hooks: EngineHooks = {}): Promise<StorageEngine> {
  switch (config.storage) {
    case 'embedded': {
      const { EmbeddedEngine } = await import('./embedded/lmdb-engine.js');
      const damageLog = new LogEvery(DAMAGE_RELOG_MS);
      const engine = new EmbeddedEngine({
        path: config.embedded.path,
        maxSize: config.embedded.maxSize,
        onSweepError: (namespace, err) => logger.error({ err, namespace }, 'expiry sweep failed; retrying'),
        onMeasureError: (err) => logger.error({ err }, 'cannot measure the embedded store; using the last measurement'),
        ...(hooks.onReclaimed ? { onReclaimed: hooks.onReclaimed } : {}),
        // Never the key: the namespace, what met it, and why it is damaged.
        onDamaged: (namespace, operation, damage) => {
          hooks.onDamagedRecord?.(namespace);
          const found = damageLog.due(namespace);
          if (found !== undefined) {
            logger.error({ namespace, operation, damage, found }, 'damaged record: not served (see docs/embedded.md, "Recovery")');
          }
        },
      });
      const sizes = {
        path: config.embedded.path,
        max_size: engine.budget.maxSize,
        // default: the file's size plus half the free disk, 64 MiB to 4 GiB (see docs/embedded.md)
        max_size_from: config.embedded.maxSize === undefined ? 'default' : 'config',
        used_bytes: engine.budget.estimate,
        format: engine.format,
        ...(hooks.probeMs === undefined ? {} : { probe_ms: Math.round(hooks.probeMs) }),
        // format-1 records (no checksum) are being rewritten with one in the background
        ...(engine.legacy ? { upgrading: true } : {}),
      };
      logger.info(sizes, 'embedded store opened');
      if (sizes.used_bytes >= sizes.max_size) logger.warn(sizes, 'the embedded store is already at max_size: writes get 507 until entries expire or are deleted');
      return engine;
    }
    case 'cassandra': {
      const { CassandraEngine } = await import('./cassandra/cassandra-engine.js');
      let failures = 0;
      const engine = new CassandraEngine({
        config: config.cassandra!,
        // Log the first failure and then every tenth, so an outage does not flood the log.
        onConnectError: (err) => {
          if (failures++ % 10 === 0) logger.error({ err, failures }, 'cannot connect to Cassandra; retrying');
        },
        onSchema: (problems) => {
          const keyspace = config.cassandra!.keyspace;
          if (problems.length === 0) {
            logger.info({ keyspace }, "Cassandra schema complete: the keyspace and every namespace's table are there, with Kask's columns");
            return;
          }
          logger.error({ keyspace, problems: problems.map((p) => ({ cause: p.cause, namespaces: p.namespaces })) }, schemaAdvice(problems, config.file));
        },
      });
      // Give the first connection a moment so a normal start serves no 503s; if Cassandra is
      // down, serve anyway (503 until it answers: the engine keeps trying in the background).
      await engine.waitUntilConnected(config.cassandra!.connectTimeoutMs).catch(() => {
        logger.warn('Cassandra is not reachable yet; answering 503 until it is');
      });
      return engine;
    }
  }
}
