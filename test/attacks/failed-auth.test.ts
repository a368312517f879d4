/**
 * Attack: guessing bearer tokens. From 127.0.0.1, 200 requests with wrong tokens
 * to a namespace that takes tokens and has `failed_auth_limit: {burst: 10,
 * per_second: 1}`.
 *
 * Proves that failed authentications are throttled per address: the first few
 * (at most the burst, plus what refills meanwhile) answer 401, the rest 429
 * with Retry-After; while throttled, that address is refused 429 even with the
 * valid token, and after Retry-After it is served again; a client on another
 * address (127.0.0.2, valid token) is served within 1 s throughout; and the log
 * records failures at INFO with the client's address, never the token's text,
 * in a bounded number of lines (not one per attempt).
 */
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { request, type Reply } from '../helpers/http.js';
import { spawnFirkin } from '../helpers/process.js';
import { tokenHash } from '../helpers/secrets.js';
import { tempDir } from '../helpers/tmp.js';
import {
  ATTACK_BUDGET_MS,
  checkLegit,
  Checks,
  checkService,
  figures,
  killService,
  logLines,
  mib,
  startMonitor,
  StatusCounts,
  TEST_TIMEOUT_MS,
  workerPids,
} from './harness.js';

const LIMIT = { burst: 10, per_second: 1 };
const ATTEMPTS = 200;
/** Log lines about failed authentication allowed beyond the burst (summaries, the odd refill). */
const EXTRA_LOG_LINES = 5;
/** Longest Retry-After the test will wait out (the budget is 15 s). */
const MAX_WAIT_S = 8;
const run = randomBytes(6).toString('hex');
const VALID = `valid-app-token-${randomBytes(12).toString('hex')}`;
const wrong = (i: number): string => `wrong-${run}-token-${i}`;

describe('attack: guessing bearer tokens', () => {
  it('throttles failed authentications per address, logs them boundedly and without the token', { timeout: TEST_TIMEOUT_MS }, async () => {
    const config = {
      embedded: { path: 'data' },
      failed_auth_limit: LIMIT,
      namespaces: [{ name: 'sessions', base_uri: '/sessions/v1/', tokens: [{ name: 'app', sha256: tokenHash(VALID) }] }],
    };
    const f = await spawnFirkin(tempDir(), config);
    const keyUrl = `${f.url}/sessions/v1/guessed-session-key:0001`;
    const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });
    // The legitimate client comes from another address: throttling 127.0.0.1 must not touch it.
    const monitor = await startMonitor(f, { headers: bearer(VALID), localAddress: '127.0.0.2' });
    const workersBefore = workerPids(f);
    const started = Date.now();

    const answers: Reply[] = [];
    for (let i = 0; i < ATTEMPTS; i++) answers.push(await request(keyUrl, { headers: bearer(wrong(i)) }));
    const attackSeconds = (Date.now() - started) / 1000;
    const whileThrottled = await request(keyUrl, { headers: bearer(VALID) });
    const retryAfter = Number(whileThrottled.headers['retry-after'] ?? answers.at(-1)?.headers['retry-after'] ?? NaN);
    const waitS = Number.isFinite(retryAfter) ? Math.min(retryAfter, MAX_WAIT_S) : 0;
    await sleep(waitS * 1000 + 300);
    const afterWait = await request(keyUrl, { headers: bearer(VALID) });
    const m = await monitor.stop();
    const elapsed = Date.now() - started;
    await sleep(200); // the last log lines

    const statuses = new StatusCounts();
    for (const a of answers) statuses.add(a.status);
    const leading401 = answers.findIndex((a) => a.status !== 401);
    const firstRun = leading401 === -1 ? answers.length : leading401;
    const later401 = answers.slice(firstRun).filter((a) => a.status === 401).length;
    const refill = Math.ceil(attackSeconds * LIMIT.per_second);
    const badRetryAfter = answers.filter((a) => a.status === 429 && !/^[1-9]\d*$/.test(a.headers['retry-after'] ?? '')).length;
    const lines = logLines(f);
    const authLines = lines.filter((l) => typeof l.msg === 'string' && /authentication failed/i.test(l.msg));
    const withAddress = authLines.filter((l) =>
      Object.entries(l).some(([k, v]) => /addr|ip|client|remote|peer/i.test(k) && typeof v === 'string' && v.includes('127.0.0.1')),
    );
    const leaks = f.stdout.filter((line) => line.includes(run) || line.includes(VALID)).length;

    figures('failed-auth', {
      limit: `burst ${LIMIT.burst}, ${LIMIT.per_second}/s`,
      bound: `401s ≤ ${LIMIT.burst} + refill, log lines ≤ ${LIMIT.burst + EXTRA_LOG_LINES}`,
      attacker: statuses.toString(),
      leading_401: firstRun,
      later_401: later401,
      attack_s: attackSeconds.toFixed(2),
      valid_while_throttled: `${whileThrottled.status} (Retry-After ${whileThrottled.headers['retry-after'] ?? 'none'})`,
      valid_after_wait: `${afterWait.status} after ${(waitS + 0.3).toFixed(1)} s`,
      auth_log_lines: `${authLines.length} (levels ${[...new Set(authLines.map((l) => l.level))].join(',') || 'none'}; with address ${withAddress.length})`,
      token_in_log: leaks,
      rss_growth_MiB: mib(m.growthBytes),
      legit_worst_ms: m.worstMs.toFixed(0),
      legit_from_127_0_0_2: m.legitStatuses.toString(),
      elapsed_ms: elapsed,
    });

    const checks = new Checks();
    checks.ok(firstRun >= 1 && firstRun <= LIMIT.burst, `${firstRun} wrong tokens answered 401 before the first refusal (expected 1 to ${LIMIT.burst})`);
    checks.ok(later401 <= refill, `${later401} more 401s after throttling began (at most ${refill} refill in ${attackSeconds.toFixed(2)} s)`);
    checks.ok(statuses.get(401) + statuses.get(429) === ATTEMPTS, `wrong tokens answered ${statuses.toString()} (only 401 and 429 expected)`);
    checks.ok(statuses.get(429) >= ATTEMPTS - LIMIT.burst - refill, `only ${statuses.get(429)} of ${ATTEMPTS} wrong tokens answered 429`);
    checks.ok(badRetryAfter === 0, `${badRetryAfter} 429 answers without a Retry-After of whole seconds`);
    checks.ok(statuses.unexpected5xx().length === 0, `the attacker saw server errors: ${statuses.toString()}`);
    checks.ok(whileThrottled.status === 429, `the valid token from the throttled address answered ${whileThrottled.status}, not 429`);
    checks.ok(!Number.isFinite(retryAfter) || retryAfter <= MAX_WAIT_S, `Retry-After ${retryAfter} s is longer than the test waits (${MAX_WAIT_S} s)`);
    checks.ok([200, 404].includes(afterWait.status), `the valid token after Retry-After answered ${afterWait.status}, not 200/404`);
    checks.ok(authLines.length >= 1, 'no "authentication failed" log line');
    checks.ok(authLines.every((l) => l.level === 'INFO'), `"authentication failed" lines at levels ${[...new Set(authLines.map((l) => l.level))].join(',')}, not INFO`);
    checks.ok(withAddress.length === authLines.length, `${authLines.length - withAddress.length} "authentication failed" lines without an address field holding 127.0.0.1`);
    checks.ok(authLines.length <= LIMIT.burst + EXTRA_LOG_LINES, `${authLines.length} "authentication failed" lines for ${ATTEMPTS} attempts (at most ${LIMIT.burst + EXTRA_LOG_LINES})`);
    checks.ok(leaks === 0, `${leaks} log lines hold a token's text`);
    checkLegit(checks, m);
    checkService(checks, f, workersBefore);
    checks.ok(elapsed <= ATTACK_BUDGET_MS, `the attack took ${elapsed} ms (budget ${ATTACK_BUDGET_MS})`);
    await killService(f);
    checks.done();
  });
});
