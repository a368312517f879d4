/**
 * Attack: pipelined large reads that are never read. 20 connections each send 100
 * pipelined GETs of a 1 MiB value in one write and then never read a byte (more
 * than a connection may have waiting: the server closes it at once); and the same
 * with 30 each (fewer than the queue bound: the write timeout must close them).
 *
 * Proves, with one process and with two workers, that the memory of the service
 * stays under its documented bound (docs/security.md), max_buffered_bytes +
 * max_in_flight × 2 × max_value_bytes (per process) + connections × 256 KiB,
 * plus 64 MiB of slack,
 * however much the attackers ask for; that legitimate clients are answered
 * within 1 s meanwhile; that no worker dies; and that the server closes every
 * stalled connection within write_timeout_ms + 2 s. (A client that never reads
 * cannot see its connection close, as the close waits behind the unread bytes;
 * so once that deadline has passed the attacker starts reading and must find
 * the stream ending within ~3 s more, having left no more than what the kernel
 * buffers held.)
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
  KiB,
  killService,
  MiB,
  mib,
  startMonitor,
  StatusCounts,
  StatusScanner,
  TEST_TIMEOUT_MS,
  WORKER_COUNTS,
  workerPids,
} from './harness.js';

const CONNECTIONS = 20;
/** Requests per connection: over the queue bound (32 waiting), and under it. */
const DEPTHS = [100, 30];
const VALUE_BYTES = 1 * MiB;
const LIMITS = { max_in_flight: 64, max_buffered_bytes: 32 * MiB, write_timeout_ms: 3000, max_value_bytes: VALUE_BYTES };
/** After the stall, when the attacker starts reading to see whether the server has closed: write_timeout_ms + 2 s. */
const CLOSED_BY_MS = LIMITS.write_timeout_ms + 2000;
/** Reading from then on, every connection must have ended within this. */
const CLOSE_SEEN_BY_MS = CLOSED_BY_MS + 3000;

describe('attack: pipelined large reads, never reading', () => {
  for (const workers of WORKER_COUNTS) for (const PIPELINED of DEPTHS) {
    it(`keeps memory bounded, serves others and closes stalled connections (${PIPELINED} pipelined; workers: ${workers})`, { timeout: TEST_TIMEOUT_MS }, async () => {
      const config = { embedded: { path: 'data' }, workers, ...LIMITS };
      const f = await spawnFirkin(tempDir(), config);
      const key = 'pipelined-large-value:0001';
      const prefill = await request(`${f.url}/sessions/v1/${key}`, { method: 'PUT', body: Buffer.alloc(VALUE_BYTES, 'v') });
      const checks = new Checks();
      checks.ok(prefill.status === 201, `prefill of the 1 MiB value answered ${prefill.status}`);

      const monitor = await startMonitor(f);
      const workersBefore = workerPids(f);
      const started = Date.now();

      // Every connection connected and paused before the first request goes out.
      const sockets: Socket[] = await Promise.all(Array.from({ length: CONNECTIONS }, () => openSocket(f.url)));
      const attackerStatuses = new StatusCounts();
      const scanners = sockets.map(() => new StatusScanner(attackerStatuses));
      const closedAt: (number | undefined)[] = sockets.map(() => undefined);
      const errors: string[] = [];
      const pipeline = `GET /sessions/v1/${key} HTTP/1.1\r\nHost: x\r\n\r\n`.repeat(PIPELINED);
      sockets.forEach((s, i) => {
        s.pause();
        s.on('data', (chunk: Buffer) => scanners[i]!.push(chunk));
        s.on('error', (err: NodeJS.ErrnoException) => errors.push(err.code ?? err.message));
        s.on('close', () => (closedAt[i] = Date.now() - stalled));
      });
      const stalled = Date.now();
      for (const s of sockets) s.write(pipeline);

      // Never read until the server must have closed every connection; then read, to see it.
      await sleep(CLOSED_BY_MS);
      const readingFrom = Date.now() - stalled;
      for (const s of sockets) s.resume();
      const deadline = stalled + CLOSE_SEEN_BY_MS;
      while (Date.now() < deadline && closedAt.some((t) => t === undefined)) await sleep(50);
      const closed = closedAt.filter((t) => t !== undefined).length;
      const maxReadAfter = Math.max(...scanners.map((s) => s.bytes));
      for (const s of sockets) s.destroy();

      const m = await monitor.stop();
      const elapsed = Date.now() - started;
      // max_buffered_bytes and max_in_flight hold per process.
      // docs/security.md, per process: max_buffered_bytes + max_in_flight × 2 × max_value_bytes + connections × 256 KiB; plus slack.
      const bound = workers * (LIMITS.max_buffered_bytes + LIMITS.max_in_flight * 2 * VALUE_BYTES) + CONNECTIONS * 256 * KiB + 64 * MiB;

      figures('pipelined-reads', {
        workers,
        pipelined: PIPELINED,
        bound_MiB: mib(bound),
        rss_growth_MiB: mib(m.growthBytes),
        rss_baseline_MiB: mib(m.baselineBytes),
        rss_peak_MiB: mib(m.peakBytes),
        legit_worst_ms: m.worstMs.toFixed(0),
        legit: m.legitStatuses.toString(),
        attacker_read_after_stall: attackerStatuses.toString(),
        closed: `${closed}/${CONNECTIONS} (reading from +${readingFrom} ms; last close +${Math.max(0, ...closedAt.map((t) => t ?? 0))} ms)`,
        max_bytes_read_after_stall_MiB: mib(maxReadAfter),
        attacker_errors: errors.length === 0 ? 'none' : [...new Set(errors)].join(','),
        elapsed_ms: elapsed,
      });

      checks.ok(m.growthBytes < bound, `RSS grew by ${mib(m.growthBytes)} MiB, over the bound of ${mib(bound)} MiB`);
      checkLegit(checks, m);
      checks.ok(closed === CONNECTIONS, `${CONNECTIONS - closed} of ${CONNECTIONS} stalled connections still open ${CLOSE_SEEN_BY_MS} ms after the stall (write_timeout_ms ${LIMITS.write_timeout_ms})`);
      checks.ok(attackerStatuses.unexpected5xx().length === 0, `the attacker read server errors: ${attackerStatuses.toString()}`);
      checkService(checks, f, workersBefore);
      checks.ok(elapsed <= ATTACK_BUDGET_MS, `the attack took ${elapsed} ms (budget ${ATTACK_BUDGET_MS})`);
      await killService(f);
      checks.done();
    });
  }
});
