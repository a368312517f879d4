/**
 * Attack: clients that hold the service's slots without using them.
 *
 *   1. Slow bodies: 1 100 connections from four addresses (127.0.0.2–5) each send
 *      a PUT's head declaring a 4 KiB body, then one byte a second, with
 *      `max_in_flight: 256` (what docs/security.md advises) and `max_connections:
 *      1200`.
 *   2. Idle connections: 1 200 connections from one address (127.0.0.6) that send
 *      nothing, each reconnected as soon as the server closes it.
 *
 * Proves that a request waiting for its body holds no in-flight slot and must keep
 * its body coming (after a grace period, at a minimum rate: else 408 and the
 * connection closed), and that one source (an IPv4 address, an IPv6 /64) holds at
 * most `max_connections_per_source` (1 000 by default) connections, closed at once
 * beyond it, before a byte is read: meanwhile the legitimate client on 127.0.0.1 (a
 * PUT and a GET every 100 ms, fresh connections) is answered within 1 s, never
 * 503, and memory stays bounded.
 */
import type { Socket } from 'node:net';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { spawnFirkin } from '../helpers/process.js';
import { tempDir } from '../helpers/tmp.js';
import {
  acceptedFrom,
  ATTACK_BUDGET_MS,
  checkLegit,
  Checks,
  checkService,
  figures,
  killService,
  logLines,
  MiB,
  mib,
  startMonitor,
  StatusCounts,
  StatusScanner,
  TEST_TIMEOUT_MS,
  workerPids,
} from './harness.js';

const LIMITS = { max_in_flight: 256, max_connections: 1200 };
/** The default of max_connections_per_source. */
const PER_SOURCE = 1000;
const SLOW = 1100;
const SLOW_SOURCES = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5'];
const IDLE = 1200;
const IDLE_SOURCE = '127.0.0.6';
/** How long each attack lasts. */
const ATTACK_MS = 7000;

function open(url: string, localAddress: string): Promise<Socket | undefined> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const s = connect({ host: hostname, port: Number(port), localAddress });
    s.once('connect', () => resolve(s));
    s.once('error', () => resolve(undefined));
  });
}

describe('attack: slow bodies and idle connections holding the slots', () => {
  it(`serves others while ${SLOW} slow bodies trickle in (max_in_flight ${LIMITS.max_in_flight})`, { timeout: TEST_TIMEOUT_MS }, async () => {
    const f = await spawnFirkin(tempDir(), { embedded: { path: 'data' }, ...LIMITS });
    const monitor = await startMonitor(f);
    const workersBefore = workerPids(f);
    const started = Date.now();
    const statuses = new StatusCounts();
    const sockets: Socket[] = [];
    let refused = 0;
    const closedAt: number[] = [];
    for (let i = 0; i < SLOW; i++) {
      const s = await open(f.url, SLOW_SOURCES[i % SLOW_SOURCES.length]!);
      if (s === undefined) {
        refused++;
        continue;
      }
      const scanner = new StatusScanner(statuses);
      s.on('data', (c: Buffer) => scanner.push(c));
      s.on('error', () => undefined);
      s.on('close', () => closedAt.push(Date.now() - started));
      s.write(`PUT /sessions/v1/slow-body-${i}:0001 HTTP/1.1\r\nHost: firkin\r\nContent-Length: 4096\r\n\r\nx`);
      sockets.push(s);
    }
    const opened = Date.now() - started;
    const trickle = setInterval(() => {
      for (const s of sockets) if (!s.destroyed) s.write('x');
    }, 1000);
    await sleep(Math.max(0, ATTACK_MS - (Date.now() - started)));
    clearInterval(trickle);
    const stillOpen = sockets.filter((s) => !s.destroyed).length;
    for (const s of sockets) s.destroy();
    const m = await monitor.stop();
    const elapsed = Date.now() - started;

    figures('slow-bodies', {
      connections: `${SLOW} from ${SLOW_SOURCES.length} addresses (opened in ${opened} ms, ${refused} refused)`,
      limits: `max_in_flight ${LIMITS.max_in_flight}, max_connections ${LIMITS.max_connections}`,
      attacker: statuses.toString(),
      closed_by_server: `${sockets.length - stillOpen}/${sockets.length} within ${ATTACK_MS} ms (median at ${closedAt.sort((a, b) => a - b)[closedAt.length >> 1] ?? '-'} ms)`,
      legit: m.legitStatuses.toString(),
      legit_worst_ms: m.worstMs.toFixed(0),
      rss_growth_MiB: mib(m.growthBytes),
      elapsed_ms: elapsed,
    });
    const checks = new Checks();
    checkLegit(checks, m);
    checks.ok(m.legitStatuses.get(503) === 0, `the legitimate client got ${m.legitStatuses.get(503)} × 503`);
    checks.ok(stillOpen === 0, `${stillOpen} of ${sockets.length} slow bodies still open after ${ATTACK_MS} ms (a body must keep arriving)`);
    checks.ok(statuses.unexpected5xx().length === 0, `the attacker saw server errors: ${statuses.toString()}`);
    checks.ok(m.growthBytes < 64 * MiB, `RSS grew by ${mib(m.growthBytes)} MiB`);
    checkService(checks, f, workersBefore);
    checks.ok(elapsed <= ATTACK_BUDGET_MS, `the attack took ${elapsed} ms (budget ${ATTACK_BUDGET_MS})`);
    await killService(f);
    checks.done();
  });

  it(`keeps ${IDLE} idle, reconnecting connections from one address to max_connections_per_source (max_connections ${LIMITS.max_connections})`, { timeout: TEST_TIMEOUT_MS }, async () => {
    const f = await spawnFirkin(tempDir(), { embedded: { path: 'data' }, ...LIMITS });
    const monitor = await startMonitor(f);
    const workersBefore = workerPids(f);
    const started = Date.now();
    let stop = false;
    let connects = 0;
    let closedSoon = 0;
    /** Open attacker connections, by when they connected. */
    const live = new Map<Socket, number>();
    // Each slot of the attacker: connect, send nothing, reconnect as soon as the server closes.
    const slot = async (): Promise<void> => {
      while (!stop) {
        const s = await open(f.url, IDLE_SOURCE);
        if (s === undefined) {
          await sleep(50);
          continue;
        }
        connects++;
        const at = Date.now();
        live.set(s, at);
        await new Promise<void>((resolve) => {
          s.on('error', () => undefined);
          s.once('close', () => resolve());
          const poll = setInterval(() => {
            if (stop) {
              clearInterval(poll);
              s.destroy();
            }
          }, 100);
          s.once('close', () => clearInterval(poll));
        });
        live.delete(s);
        if (Date.now() - at < 500) {
          closedSoon++;
          await sleep(100);
        }
      }
    };
    const slots = Array.from({ length: IDLE }, () => slot());
    // What the service holds from the attacker's address, counted on the server's side
    // (its sockets, from /proc) five times over the last two seconds of the attack.
    await sleep(ATTACK_MS - 2000);
    const accepted: number[] = [];
    for (let i = 0; i < 5; i++) {
      accepted.push(acceptedFrom(f, IDLE_SOURCE));
      await sleep(400);
    }
    // What the attacker sees: open for over a second. This may count a few connections
    // the kernel completed that wait in the listen queue (or, after the queue overflowed,
    // for a retransmitted SYN-ACK), which the service has not accepted yet.
    const held = [...live.values()].filter((at) => Date.now() - at > 1000).length;
    stop = true;
    await Promise.all(slots);
    const m = await monitor.stop();
    const elapsed = Date.now() - started;

    const refusedLines = logLines(f).filter((l) => l.msg === 'connection refused: too many from its source');
    figures('idle-connections', {
      connections: `${IDLE} from ${IDLE_SOURCE}, reconnecting`,
      limits: `max_connections ${LIMITS.max_connections}, max_connections_per_source ${PER_SOURCE} (default)`,
      attacker: `${connects} connects, ${closedSoon} closed within 500 ms, ${held} open for over 1 s at the end`,
      accepted_by_service: accepted.join(','),
      refusal_lines: refusedLines.length,
      legit: m.legitStatuses.toString(),
      legit_worst_ms: m.worstMs.toFixed(0),
      rss_growth_MiB: mib(m.growthBytes),
      elapsed_ms: elapsed,
    });
    const checks = new Checks();
    checkLegit(checks, m);
    checks.ok(Math.max(...accepted) <= PER_SOURCE, `the service held ${accepted.join(', ')} connections from one address (max_connections_per_source ${PER_SOURCE})`);
    checks.ok(Math.min(...accepted) >= PER_SOURCE * 0.9, `the service held only ${accepted.join(', ')} connections from ${IDLE_SOURCE}: the attack did not reach the limit`);
    checks.ok(held >= PER_SOURCE * 0.9, `the attacker kept only ${held} connections open: the attack did not reach the limit`);
    checks.ok(refusedLines.length >= 1 && refusedLines.length <= Math.ceil(elapsed / 1000) + 1, `${refusedLines.length} "connection refused: too many from its source" lines (expected at most one a second)`);
    checks.ok(refusedLines.every((l) => l.source === IDLE_SOURCE), `refusal lines name sources ${[...new Set(refusedLines.map((l) => String(l.source)))].join(',')}, not ${IDLE_SOURCE}`);
    checks.ok(m.growthBytes < 64 * MiB, `RSS grew by ${mib(m.growthBytes)} MiB`);
    checkService(checks, f, workersBefore);
    checks.ok(elapsed <= ATTACK_BUDGET_MS, `the attack took ${elapsed} ms (budget ${ATTACK_BUDGET_MS})`);
    await killService(f);
    checks.done();
  });
});
