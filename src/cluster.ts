/**
 * `workers` > 1: one primary process and that many worker processes sharing the
 * listening port through node:cluster. Each worker is a whole Firkin (its own
 * engine connection: LMDB is shared safely between processes, its write
 * transactions serialise across them; Cassandra gets one driver per worker).
 *
 * The primary serves nothing itself. It forwards signals (SIGTERM/SIGINT drain
 * every worker, SIGHUP re-opens logs and reloads TLS in every worker), restarts a
 * worker that dies, and answers the workers' requests for cluster-wide views:
 * /metrics summed over all workers, and /admin/top-keys merged.
 */
import cluster, { type Worker } from 'node:cluster';
import { randomBytes, randomUUID } from 'node:crypto';
import { AggregatorRegistry } from 'prom-client';
import type { FirkinConfig } from './config/types.js';
import type { TopKeysReport, TopKeysWindow } from './insight/write-insight.js';
import { KEY_HASH_SECRET_ENV } from './log/key-hash.js';
import { createLogger, openLogSink } from './log/logger.js';
import { snapshot } from './base/snapshot.js';
import { withV8Flags } from './runtime-flags.js';

type Ask = { readonly type: 'firkin:ask'; readonly id: string; readonly what: 'metrics' | 'top-keys' };
type Answer = { readonly type: 'firkin:answer'; readonly id: string; readonly body: unknown };
type Report = { readonly type: 'firkin:report'; readonly id: string; readonly what: 'metrics' | 'top-keys' };
type Reply = { readonly type: 'firkin:reply'; readonly id: string; readonly body: unknown };

/** What a worker can report about itself when the primary asks. */
export interface WorkerReports {
  metricsJson(): Promise<object[]>;
  topKeys(): TopKeysReport;
}

/** What the primary knows of the embedded store (cli.ts probed it before calling runPrimary). */
export interface PrimaryOptions {
  /** The start-up probe's report, for the log. */
  readonly storeProbe?: { readonly file: string; readonly fresh: boolean; readonly format?: number | undefined; readonly ms: number };
  /**
   * Probe the store again after a worker died of a crash signal: the line to stop on (the
   * store cannot be used), or undefined when it passes.
   */
  readonly recheckStore?: () => Promise<string | undefined>;
}

/** Signals a process dies of when its code (LMDB, reading a damaged page) crashed, rather than being killed. */
const CRASH_SIGNALS = new Set(['SIGSEGV', 'SIGBUS', 'SIGILL', 'SIGFPE', 'SIGABRT']);

/** The exit code of a store that cannot be used as it is (storage/embedded/probe.ts's EXIT_STORE_UNUSABLE). */
const EXIT_STORE_UNUSABLE = 3;

/** Run the primary: fork the workers and supervise them until a signal stops them all. */
export function runPrimary(config: FirkinConfig, options: PrimaryOptions = {}): void {
  // Workers accept from the shared socket themselves. With round-robin the primary would
  // accept every connection and pass it on: one more hop per connection, and a connection
  // handed to a worker that has just died is lost.
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  cluster.setupPrimary({ execArgv: withV8Flags(process.execArgv) });
  const sink = openLogSink(config.log, config.serviceName, () => undefined);
  const logger = createLogger({ serviceName: config.serviceName, level: config.logLevel, destination: sink });
  const env = { [KEY_HASH_SECRET_ENV]: randomBytes(32).toString('hex') };
  if (options.storeProbe !== undefined) {
    const { file, fresh, format, ms } = options.storeProbe;
    logger.info({ file, fresh, format, probe_ms: Math.round(ms) }, 'primary: embedded store checked');
  }
  let stopping = false;
  let everListening = false;
  const pending = new Map<string, { answers: unknown[]; expected: number; done: (bodies: unknown[]) => void }>();

  const live = new Set<Worker>();
  /** Workers that are up, so handle SIGHUP: a worker still loading its modules would die of one. */
  const handling = new Set<Worker>();
  /** Workers that were still starting when a SIGHUP came: they get it once they listen. */
  const hupWaiting = new Set<Worker>();
  const fork = (): Worker => {
    const worker = cluster.fork(env);
    live.add(worker);
    worker.on('listening', () => {
      handling.add(worker);
      if (hupWaiting.delete(worker)) worker.process.kill('SIGHUP');
      if (!everListening) logger.info({ workers: config.workers }, 'primary: workers listening');
      everListening = true;
    });
    worker.on('message', (message: Ask | Reply) => {
      if (message?.type === 'firkin:ask') void answer(worker, message);
      if (message?.type === 'firkin:reply') {
        const p = pending.get(message.id);
        if (p === undefined) return;
        p.answers.push(message.body);
        if (p.answers.length === p.expected) p.done(p.answers);
      }
    });
    return worker;
  };

  /** Ask every worker for a report; resolves with what arrives within a second. */
  const collect = (what: Report['what']): Promise<unknown[]> => {
    const workers = [...live].filter((w) => w.isConnected());
    const id = randomUUID();
    return new Promise((resolve) => {
      const finish = (bodies: unknown[]): void => {
        pending.delete(id);
        clearTimeout(timer);
        resolve(bodies);
      };
      const timer = setTimeout(() => finish(pending.get(id)?.answers ?? []), 1000);
      pending.set(id, { answers: [], expected: workers.length, done: finish });
      for (const w of workers) w.send({ type: 'firkin:report', id, what } satisfies Report);
    });
  };

  // Workers asking at the same time (or within metrics_max_age_ms) share one collection.
  const views = {
    metrics: snapshot(config.metricsMaxAgeMs, async () => AggregatorRegistry.aggregate((await collect('metrics')) as object[]).metrics()),
    'top-keys': snapshot(config.metricsMaxAgeMs, async () => {
      const running = [...live].filter((w) => w.isConnected()).length;
      const reports = (await collect('top-keys')) as TopKeysReport[];
      const merged = mergeTopKeys(reports, config.insight.topKeys);
      return merged === undefined ? undefined : { ...merged, workers: { running, reporting: reports.length } };
    }),
  };
  const answer = async (worker: Worker, ask: Ask): Promise<void> => {
    const body = await views[ask.what]().catch((err: unknown) => {
      logger.warn({ err: String(err), what: ask.what }, 'primary: could not collect a cluster view');
      return undefined;
    });
    if (worker.isConnected()) worker.send({ type: 'firkin:answer', id: ask.id, body } satisfies Answer);
  };

  /** Stop every worker and exit with `code`, after one FATAL line. */
  let givingUp = false;
  const giveUp = (fields: object, message: string, code: number): void => {
    if (givingUp) return;
    givingUp = true;
    logger.fatal(fields, message);
    for (const w of live) w.process.kill('SIGKILL');
    void sink.end().finally(() => process.exit(code));
  };
  let rechecking = false;
  /**
   * A worker died of a crash signal: if the store no longer passes the probe, stop on it
   * (a restarted worker would crash on the same page, in a loop). True if it stopped.
   */
  const storeBroken = async (signal: string | null): Promise<boolean> => {
    if (options.recheckStore === undefined || signal === null || !CRASH_SIGNALS.has(signal) || rechecking) return false;
    rechecking = true;
    try {
      const line = await options.recheckStore();
      if (line === undefined) return false;
      giveUp({ signal, file: options.storeProbe?.file }, `primary: a worker died of ${signal} and the embedded store no longer passes its probe: ${line}`, EXIT_STORE_UNUSABLE);
      return true;
    } finally {
      rechecking = false;
    }
  };

  cluster.on('exit', (worker, code, signal) => {
    live.delete(worker);
    handling.delete(worker);
    hupWaiting.delete(worker);
    if (givingUp) return;
    if (stopping) {
      if (live.size === 0) {
        logger.info('primary: all workers stopped');
        void sink.end().finally(() => process.exit(0));
      }
      return;
    }
    void (async () => {
      if (await storeBroken(signal)) return;
      if (stopping || givingUp) return;
      if (!everListening) {
        // A worker that could not even start (port taken…) will not do better if restarted.
        const how = signal === null ? `exit code ${code}` : `signal ${signal}`;
        const hint = signal !== null && CRASH_SIGNALS.has(signal) && options.storeProbe !== undefined
          ? `: it crashed; the embedded store ${options.storeProbe.file} passed its probe, run \`firkin store check\` on it`
          : ': its own line on stderr says why';
        giveUp({ code, signal }, `primary: a worker failed to start (${how})${hint}`, typeof code === 'number' && code !== 0 ? code : 1);
        return;
      }
      logger.error({ worker_pid: worker.process.pid, code, signal }, 'primary: a worker died; starting another');
      // Not unref'd: with every worker dead this timer is all that keeps the primary alive.
      setTimeout(() => !stopping && fork(), 1000);
    })();
  });

  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'primary: stopping the workers');
    if (live.size === 0) process.exit(0);
    // The signal itself, so each worker's stopping line names the one the operator sent.
    for (const w of live) w.process.kill(signal);
    // Workers drain within their own bounds; this is the backstop.
    setTimeout(() => {
      for (const w of live) w.process.kill('SIGKILL');
    }, config.shutdownDelayMs + config.drainTimeoutMs + 5000).unref();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => {
    sink.reopen();
    for (const w of live) {
      if (handling.has(w)) w.process.kill('SIGHUP');
      else hupWaiting.add(w);
    }
  });

  for (let i = 0; i < config.workers; i++) fork();
}

/** In a worker: answer the primary's requests for reports, and ask it for cluster-wide views. */
export function workerChannel(reports: WorkerReports): { ask(what: Ask['what']): Promise<unknown> } | undefined {
  if (!cluster.isWorker) return undefined;
  const waiting = new Map<string, (body: unknown) => void>();
  process.on('message', (message: Report | Answer) => {
    if (message?.type === 'firkin:report') {
      const body = message.what === 'metrics' ? reports.metricsJson() : Promise.resolve(reports.topKeys());
      void body.then((b) => process.send?.({ type: 'firkin:reply', id: message.id, body: b } satisfies Reply));
    }
    if (message?.type === 'firkin:answer') {
      waiting.get(message.id)?.(message.body);
      waiting.delete(message.id);
    }
  });
  return {
    ask: (what) =>
      new Promise((resolve, reject) => {
        const id = randomUUID();
        const timer = setTimeout(() => {
          waiting.delete(id);
          reject(new Error('the primary did not answer'));
        }, 3000);
        waiting.set(id, (body) => {
          clearTimeout(timer);
          if (body === undefined) reject(new Error('the primary could not collect it'));
          else resolve(body);
        });
        process.send?.({ type: 'firkin:ask', id, what } satisfies Ask);
      }),
  };
}

/**
 * Merge the workers' top-keys reports, each listing its whole sketch (mergeable
 * Space-Saving): per window (matched by its start), a key's writes are the sum over
 * workers of its count where a worker lists it, else of that worker's
 * `unlisted_max_writes` (the most it can have had there); its overcount likewise. So
 * every merged count stays an upper bound of the key's true writes, and
 * `writes - max_overcount` a lower bound, as in one process.
 */
export function mergeTopKeys(reports: readonly TopKeysReport[], topKeys: number): TopKeysReport | undefined {
  const [first] = reports;
  if (first === undefined) return undefined;
  const starts = [...new Set(reports.flatMap((r) => r.windows.map((w) => w.started)))].sort().reverse();
  return {
    ...first,
    windows: starts.slice(0, 2).map((started) => {
      const shares = reports.map((r) => r.windows.find((w) => w.started === started));
      const present = shares.filter((w): w is TopKeysWindow => w !== undefined);
      const byKey = new Map<string, { namespace: string; key_hash: string; listed: Map<number, { writes: number; max_overcount: number }> }>();
      shares.forEach((w, worker) => {
        for (const e of w?.top ?? []) {
          const id = `${e.namespace}\u0000${e.key_hash}`;
          let k = byKey.get(id);
          if (k === undefined) byKey.set(id, (k = { namespace: e.namespace, key_hash: e.key_hash, listed: new Map() }));
          k.listed.set(worker, { writes: e.writes, max_overcount: e.max_overcount });
        }
      });
      const floorOf = (worker: number): number => shares[worker]?.unlisted_max_writes ?? 0;
      const merged = [...byKey.values()].map((k) => {
        let writes = 0;
        let overcount = 0;
        shares.forEach((_, worker) => {
          const e = k.listed.get(worker);
          writes += e?.writes ?? floorOf(worker);
          overcount += e?.max_overcount ?? floorOf(worker);
        });
        return { namespace: k.namespace, key_hash: k.key_hash, writes, max_overcount: overcount };
      });
      merged.sort((a, b) => b.writes - a.writes || a.max_overcount - b.max_overcount);
      const unlistedFloor = shares.reduce((sum, _, worker) => sum + floorOf(worker), 0);
      const model = present[0]!;
      return {
        started,
        ends: model.ends,
        complete: started !== starts[0],
        writes: present.reduce((sum, w) => sum + w.writes, 0),
        unlisted_max_writes: Math.max(unlistedFloor, merged[topKeys]?.writes ?? 0),
        top: merged.slice(0, topKeys),
      };
    }),
  };
}
