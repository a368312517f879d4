/**
 * Attack: /metrics as an amplifier. First 10 connections each send 400 pipelined
 * `GET /metrics` and never read; then, with those still open, 1000 scrapes on
 * fresh connections, 100 at a time, each read to the end.
 *
 * Proves, with one process and with two workers, that a scrape is cheap however
 * many arrive (served from a snapshot at most ~1 s old, shared by concurrent
 * scrapes, in the primary too): every one of the 1000 scrapes is answered 200
 * (never 500, never a timeout), the service's memory grows by less than 64 MiB
 * plus slack, legitimate clients are answered within 1 s, and no worker dies.
 */
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Socket } from 'node:net';
import { openSocket, request } from '../helpers/http.js';
import { spawnFirkin } from '../helpers/process.js';
import { tempDir } from '../helpers/tmp.js';
import {
  ATTACK_BUDGET_MS,
  checkLegit,
  Checks,
  checkService,
  figures,
  killService,
  MiB,
  mib,
  SLACK_BYTES,
  startMonitor,
  StatusCounts,
  TEST_TIMEOUT_MS,
  WORKER_COUNTS,
  workerPids,
} from './harness.js';

const PIPELINED_CONNECTIONS = 10;
const PIPELINED = 400;
const SCRAPES = 1000;
const BATCH = 100;
/** No new batch of scrapes starts after this much of the attack (the budget is 15 s). */
const SCRAPING_MS = 10_000;
/** A scrape with no answer after this counts as failed (status 0). */
const SCRAPE_GIVE_UP_MS = 5000;
const BOUND = 64 * MiB + SLACK_BYTES;

function scrapeOnce(url: string): Promise<{ status: number; ms: number }> {
  const started = performance.now();
  return Promise.race([
    request(`${url}/metrics`).then(
      (r) => ({ status: r.status, ms: performance.now() - started }),
      () => ({ status: 0, ms: performance.now() - started }),
    ),
    sleep(SCRAPE_GIVE_UP_MS).then(() => ({ status: 0, ms: SCRAPE_GIVE_UP_MS })),
  ]);
}

describe('attack: pipelined /metrics, then a thousand scrapes', () => {
  for (const workers of WORKER_COUNTS) {
    it(`answers every scrape 200 with bounded memory (workers: ${workers})`, { timeout: TEST_TIMEOUT_MS }, async () => {
      const f = await spawnFirkin(tempDir(), { embedded: { path: 'data' }, workers, metrics_max_age_ms: 1000 });
      const checks = new Checks();
      const monitor = await startMonitor(f);
      const workersBefore = workerPids(f);
      const started = Date.now();

      // Phase 1: pipelined scrapes nobody reads.
      const sockets: Socket[] = await Promise.all(Array.from({ length: PIPELINED_CONNECTIONS }, () => openSocket(f.url)));
      const pipeline = 'GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(PIPELINED);
      for (const s of sockets) {
        s.pause();
        s.on('error', () => undefined);
        s.write(pipeline);
      }
      await sleep(1500);

      // Phase 2: scrapes on fresh connections, BATCH at a time, every answer read.
      const scrapes = new StatusCounts();
      let worstScrapeMs = 0;
      let sent = 0;
      while (sent < SCRAPES && Date.now() - started < SCRAPING_MS) {
        const batch = await Promise.all(Array.from({ length: Math.min(BATCH, SCRAPES - sent) }, () => scrapeOnce(f.url)));
        sent += batch.length;
        for (const r of batch) {
          scrapes.add(r.status);
          worstScrapeMs = Math.max(worstScrapeMs, r.ms);
        }
      }
      for (const s of sockets) s.destroy();
      const m = await monitor.stop();
      const elapsed = Date.now() - started;

      figures('pipelined-metrics', {
        workers,
        bound_MiB: mib(BOUND),
        rss_growth_MiB: mib(m.growthBytes),
        rss_baseline_MiB: mib(m.baselineBytes),
        rss_peak_MiB: mib(m.peakBytes),
        legit_worst_ms: m.worstMs.toFixed(0),
        legit: m.legitStatuses.toString(),
        scrapes: `${scrapes.toString()} (${sent}/${SCRAPES} sent)`,
        worst_scrape_ms: worstScrapeMs.toFixed(0),
        elapsed_ms: elapsed,
      });

      checks.ok(sent === SCRAPES, `only ${sent} of ${SCRAPES} scrapes were sent within ${SCRAPING_MS} ms`);
      checks.ok(scrapes.get(200) === sent, `scrapes answered ${scrapes.toString()} (every one should be 200; 0: no answer within ${SCRAPE_GIVE_UP_MS} ms)`);
      checks.ok(scrapes.unexpected5xx().length === 0, `scrapes saw server errors: ${scrapes.toString()}`);
      checks.ok(m.growthBytes < BOUND, `RSS grew by ${mib(m.growthBytes)} MiB, over the bound of ${mib(BOUND)} MiB`);
      checkLegit(checks, m);
      checkService(checks, f, workersBefore);
      checks.ok(elapsed <= ATTACK_BUDGET_MS, `the attack took ${elapsed} ms (budget ${ATTACK_BUDGET_MS})`);
      await killService(f);
      checks.done();
    });
  }
});
