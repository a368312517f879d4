/**
 * Attack: a look-alike client. The CA has issued a second certificate with the
 * legitimate client's subject (`CN=mediawiki`) but another key: a workload that
 * was given "its own" certificate with the same name, or one the CA issued by
 * mistake. From the legitimate client's own address (127.0.0.1), the look-alike
 * fails authentication over and over in a namespace it is not allowed into, and
 * floods the namespace both may use past its rate limit; beside it, a guesser
 * sends wrong bearer tokens, also from 127.0.0.1.
 *
 * Proves that the failed-authentication throttle and the rate limit tell
 * certificates apart by what cannot be forged (the certificate itself, by its
 * SHA-256 fingerprint), not by a name two certificates can share, and that an
 * address's failed guesses do not lock out a client that proves itself with a
 * certificate: the look-alike and the guesser are throttled (429), the
 * legitimate client (a PUT and a GET every 100 ms) is answered within 1 s,
 * never 429.
 */
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { request } from '../helpers/http.js';
import { pem, TestCa } from '../helpers/pki.js';
import { spawnFirkin } from '../helpers/process.js';
import { tokenHash } from '../helpers/secrets.js';
import { tempDir } from '../helpers/tmp.js';
import { ATTACK_BUDGET_MS, checkLegit, Checks, checkService, figures, killService, startMonitor, StatusCounts, TEST_TIMEOUT_MS, workerPids } from './harness.js';

const TOKEN = `look-alike-app-token-${randomBytes(12).toString('hex')}`;
const RATE = { requests_per_second: 50, burst: 50 };
const FAILED_AUTH = { burst: 10, per_second: 0.2 };
const FAILURES = 60;
const FLOOD = 300;
const GUESSES = 60;

describe('attack: a look-alike certificate (same CN, another key) and a guesser on the same address', () => {
  it("spends neither the real client's rate limit nor its failed-authentication budget", { timeout: TEST_TIMEOUT_MS }, async () => {
    const ca = new TestCa();
    const server = ca.server();
    const legit = ca.issue('legit', 'mediawiki');
    const lookAlike = ca.issue('look-alike', 'mediawiki');
    const f = await spawnFirkin(tempDir(), {
      embedded: { path: 'data' },
      tls: { cert: server.cert, key: server.key, ca: ca.cert },
      failed_auth_limit: FAILED_AUTH,
      namespaces: [
        { name: 'sessions', base_uri: '/sessions/v1/', clients: ['cn:mediawiki'], tokens: [{ name: 'app', sha256: tokenHash(TOKEN) }], rate_limit: RATE },
        { name: 'central', base_uri: '/central/v1/', clients: ['cn:centralauth'] },
      ],
    });
    const tls = (pair: { cert: string; key: string }) => ({ ca: pem(ca.cert).toString(), cert: pem(pair.cert).toString(), key: pem(pair.key).toString() });
    const monitor = await startMonitor(f, { tls: tls(legit) });
    const workersBefore = workerPids(f);
    const started = Date.now();

    const failures = new StatusCounts();
    const flood = new StatusCounts();
    const guesses = new StatusCounts();
    const status = (p: Promise<{ status: number }>): Promise<number> => p.then((r) => r.status, () => 0);
    // The look-alike, where the CN is allowed, as fast as it can: past the rate limit.
    const inFlight: Promise<void>[] = [];
    for (let i = 0; i < FLOOD; i++) {
      inFlight.push(status(request(`${f.url}/sessions/v1/look-alike-flood:${i}`, { tls: tls(lookAlike) })).then((s) => flood.add(s)));
      if (inFlight.length >= 20) await Promise.all(inFlight.splice(0));
    }
    await Promise.all(inFlight);
    // The look-alike, where it is not allowed: 403 until its own budget is spent, then 429.
    for (let i = 0; i < FAILURES; i++) failures.add(await status(request(`${f.url}/central/v1/look-alike-key:${i}`, { tls: tls(lookAlike) })));
    // A guesser without a certificate on the same address.
    for (let i = 0; i < GUESSES; i++) {
      guesses.add(await status(request(`${f.url}/sessions/v1/guessed-key:0001`, { headers: { authorization: `Bearer wrong-${i}-${randomBytes(8).toString('hex')}` }, tls: { ca: pem(ca.cert) } })));
    }
    const afterwards = await status(request(`${f.url}/sessions/v1/legit-after-attack:0001`, { tls: tls(legit) }));
    const m = await monitor.stop();
    const elapsed = Date.now() - started;

    figures('look-alike-certificate', {
      look_alike_failures: failures.toString(),
      look_alike_flood: flood.toString(),
      guesser: guesses.toString(),
      legit: m.legitStatuses.toString(),
      legit_worst_ms: m.worstMs.toFixed(0),
      legit_afterwards: afterwards,
      elapsed_ms: elapsed,
    });
    const checks = new Checks();
    checks.ok(failures.get(429) > 0 && failures.get(403) <= FAILED_AUTH.burst + 3, `the look-alike's failures were not throttled: ${failures.toString()}`);
    checks.ok(flood.get(429) > 0, `the look-alike's flood never met the rate limit: ${flood.toString()}`);
    checks.ok(guesses.get(429) > 0, `the guesser was not throttled: ${guesses.toString()}`);
    checks.ok(m.legitStatuses.get(429) === 0, `the legitimate client got ${m.legitStatuses.get(429)} × 429 (${m.legitStatuses.toString()})`);
    checks.ok(afterwards === 404, `the legitimate client after the attack answered ${afterwards}, not 404`);
    checkLegit(checks, m);
    checkService(checks, f, workersBefore);
    checks.ok(elapsed <= ATTACK_BUDGET_MS, `the attack took ${elapsed} ms (budget ${ATTACK_BUDGET_MS})`);
    await killService(f);
    checks.done();
  });
});
