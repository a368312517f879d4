/**
 * The attack suite's observer, in a worker thread of its own so that an attacker
 * busy on the test's main thread cannot delay it: it warms the service up, takes
 * the RSS baseline, then every 100 ms samples the RSS of the whole service (the
 * primary and its workers) and sends one legitimate PUT and GET, each on a fresh
 * connection, timing them. Started and stopped by harness.ts.
 */
import { request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parentPort, workerData } from 'node:worker_threads';
import { treeRssBytes } from '../../tools/proc-stats.js';

export interface MonitorInput {
  /** The service's primary process. */
  readonly pid: number;
  /** URL of the legitimate client's own key. */
  readonly keyUrl: string;
  readonly headers: OutgoingHttpHeaders;
  /** Source address of the legitimate client (default: the system's choice, 127.0.0.1). */
  readonly localAddress?: string;
  readonly tls?: { readonly ca: string; readonly cert?: string; readonly key?: string };
  /** Warm-up rounds (one PUT and one GET each) before the baseline. */
  readonly warmupRounds: number;
  readonly everyMs: number;
  /** A legitimate request with no answer after this is abandoned (status 0). */
  readonly giveUpMs: number;
}

export interface LegitRecord {
  readonly method: 'GET' | 'PUT';
  /** 0: no answer (error or gave up). */
  readonly status: number;
  readonly ms: number;
  /** Milliseconds since the attack window opened. */
  readonly at: number;
  readonly error?: string;
}

export type MonitorMessage =
  | { readonly type: 'ready'; readonly baselineBytes: number; readonly warmupFailures: number }
  | { readonly type: 'result'; readonly samples: readonly { at: number; bytes: number }[]; readonly legit: readonly LegitRecord[] };

const input = workerData as MonitorInput;

function legit(method: 'GET' | 'PUT'): Promise<{ status: number; ms: number; error?: string }> {
  const started = performance.now();
  return new Promise((resolve) => {
    let settled = false;
    const finish = (status: number, error?: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ status, ms: performance.now() - started, ...(error === undefined ? {} : { error }) });
    };
    const onResponse = (res: IncomingMessage): void => {
      res.on('data', () => undefined);
      res.on('end', () => finish(res.statusCode ?? 0));
      res.on('error', (err) => finish(0, err.message));
    };
    const body = method === 'PUT' ? 'legitimate value' : undefined;
    const how = {
      method,
      agent: false as const,
      headers: { ...input.headers, ...(body === undefined ? {} : { 'Content-Length': Buffer.byteLength(body) }) },
      ...(input.localAddress === undefined ? {} : { localAddress: input.localAddress }),
    };
    const req = input.keyUrl.startsWith('https:') ? httpsRequest(input.keyUrl, { ...how, ...input.tls }, onResponse) : httpRequest(input.keyUrl, how, onResponse);
    const timer = setTimeout(() => {
      req.destroy();
      finish(0, `no answer within ${input.giveUpMs} ms`);
    }, input.giveUpMs);
    req.on('error', (err) => finish(0, err.message));
    req.end(body);
  });
}

async function main(): Promise<void> {
  let warmupFailures = 0;
  for (let i = 0; i < input.warmupRounds; i++) {
    for (const method of ['PUT', 'GET'] as const) if ((await legit(method)).status === 0) warmupFailures++;
  }
  await sleep(300);
  const baseline: number[] = [];
  for (let i = 0; i < 5; i++) {
    baseline.push(treeRssBytes(input.pid));
    await sleep(100);
  }
  parentPort!.postMessage({ type: 'ready', baselineBytes: baseline.reduce((a, b) => a + b, 0) / baseline.length, warmupFailures } satisfies MonitorMessage);

  const opened = performance.now();
  const samples: { at: number; bytes: number }[] = [];
  const records: LegitRecord[] = [];
  const pending = new Set<Promise<void>>();
  const tick = (): void => {
    const at = performance.now() - opened;
    samples.push({ at, bytes: treeRssBytes(input.pid) });
    const round = (async () => {
      for (const method of ['PUT', 'GET'] as const) {
        const start = performance.now() - opened;
        const r = await legit(method);
        records.push({ method, status: r.status, ms: r.ms, at: start, ...(r.error === undefined ? {} : { error: r.error }) });
      }
    })();
    pending.add(round);
    void round.finally(() => pending.delete(round));
  };
  tick();
  const interval = setInterval(tick, input.everyMs);
  parentPort!.once('message', async () => {
    clearInterval(interval);
    // Rounds still running end within giveUpMs (each request gives up by then).
    await Promise.all(pending);
    samples.push({ at: performance.now() - opened, bytes: treeRssBytes(input.pid) });
    parentPort!.postMessage({ type: 'result', samples, legit: records } satisfies MonitorMessage);
  });
}

void main();
