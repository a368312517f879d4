/**
 * Attack: filling the disk through an open namespace. 8 writers PUT 256 KiB
 * values to fresh keys as fast as they can, for up to 10 s or until they are
 * refused with 507.
 *
 * Proves that `embedded.max_size` holds: writes past it are answered 507
 * Insufficient Storage as a problem document (urn:firkin:problem:insufficient-
 * storage), never another 5xx (503 aside); the data directory stays under twice
 * max_size; a full store still serves reads (GET of an early key 200) and
 * deletes (204), and after keys are deleted it accepts writes again (201); the
 * process stays up and legitimate clients are answered within 1 s (their small
 * PUTs may be refused 507 while the store is full; their GETs must succeed).
 */
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { request, type Reply } from '../helpers/http.js';
import { spawnFirkin } from '../helpers/process.js';
import { tempDir } from '../helpers/tmp.js';
import {
  ATTACK_BUDGET_MS,
  checkLegit,
  Checks,
  checkService,
  dirSize,
  figures,
  KiB,
  killService,
  MiB,
  mib,
  startMonitor,
  StatusCounts,
  TEST_TIMEOUT_MS,
  workerPids,
} from './harness.js';

/** embedded.max_size as the config takes it, and in bytes. */
const MAX_SIZE = '16MiB';
const MAX_SIZE_BYTES = 16 * MiB;
const WRITERS = 8;
const VALUE = Buffer.alloc(256 * KiB, 'f');
const FILL_MS = 10_000;
/** If this much was accepted without a single 507, the limit does not work: stop before filling the real disk. */
const ACCEPTED_CAP_BYTES = 8 * MAX_SIZE_BYTES;
const INSUFFICIENT_STORAGE = 'urn:firkin:problem:insufficient-storage';

describe('attack: filling the disk', () => {
  it('refuses writes past embedded.max_size with 507, keeps reads and deletes working, and recovers', { timeout: TEST_TIMEOUT_MS }, async () => {
    const dir = tempDir();
    const config = { embedded: { path: 'data', max_size: MAX_SIZE } };
    const f = await spawnFirkin(dir, config);
    const data = join(dir, 'data');
    const url = (key: string): string => `${f.url}/sessions/v1/${key}`;
    const checks = new Checks();
    const early = { read: 'disk-fill-early-read:0001', del: 'disk-fill-early-delete:0001' };
    for (const key of Object.values(early)) {
      const r = await request(url(key), { method: 'PUT', body: 'an early session' });
      checks.ok(r.status === 201, `the early write of ${key} answered ${r.status}`);
    }

    const monitor = await startMonitor(f, { expected: { GET: [200, 404], PUT: [201, 507] } });
    const workersBefore = workerPids(f);
    const started = Date.now();

    let peak = dirSize(data);
    const sizer = setInterval(() => {
      const s = dirSize(data);
      peak = { bytes: Math.max(peak.bytes, s.bytes), allocated: Math.max(peak.allocated, s.allocated) };
    }, 100);

    const fill = new StatusCounts();
    const written: string[] = [];
    const badProblems: string[] = [];
    let acceptedBytes = 0;
    let firstRefusal: (() => void) | undefined;
    const refused = new Promise<void>((resolve) => (firstRefusal = resolve));
    const writer = async (w: number): Promise<void> => {
      for (let n = 0; Date.now() - started < FILL_MS && acceptedBytes < ACCEPTED_CAP_BYTES; n++) {
        const key = `disk-fill-${w}-${n}:0001`;
        let r: Reply;
        try {
          r = await request(url(key), { method: 'PUT', body: VALUE });
        } catch {
          fill.add(0);
          continue;
        }
        fill.add(r.status);
        if (r.status === 201) {
          written.push(key);
          acceptedBytes += VALUE.length;
        } else if (r.status === 507) {
          const type = (() => {
            try {
              return r.json().type;
            } catch {
              return undefined;
            }
          })();
          if (!/^application\/problem\+json/.test(r.headers['content-type'] ?? '') || type !== INSUFFICIENT_STORAGE) {
            badProblems.push(`${r.headers['content-type']} ${String(type)}`);
          }
          firstRefusal!();
          return;
        }
      }
    };
    const writers = Promise.all(Array.from({ length: WRITERS }, (_, w) => writer(w)));

    // While the store is full (or, if it never fills, once the writers stop): reads and deletes still work.
    await Promise.race([refused, writers]);
    const fullAt = Date.now() - started;
    const duringFill = {
      get: (await request(url(early.read))).status,
      del: (await request(url(early.del), { method: 'DELETE' })).status,
    };
    await writers;
    clearInterval(sizer);
    const afterFill = dirSize(data);
    peak = { bytes: Math.max(peak.bytes, afterFill.bytes), allocated: Math.max(peak.allocated, afterFill.allocated) };

    // Room made again: everything the attack wrote deleted, then a write is accepted.
    const deletes = new StatusCounts();
    for (let i = 0; i < written.length; i += 16) {
      const batch = await Promise.all(written.slice(i, i + 16).map((k) => request(url(k), { method: 'DELETE' }).then((r) => r.status, () => 0)));
      for (const s of batch) deletes.add(s);
    }
    const recovery = new StatusCounts();
    let recovered = 0;
    for (let attempt = 0; attempt < 3 && recovered !== 201; attempt++) {
      if (attempt > 0) await sleep(300);
      recovered = await request(url('disk-fill-after-delete:0001'), { method: 'PUT', body: VALUE }).then((r) => r.status, () => 0);
      recovery.add(recovered);
    }
    const healthz = await request(`${f.url}/healthz`).then((r) => r.status, () => 0);
    const m = await monitor.stop();
    const elapsed = Date.now() - started;
    const ratio = peak.allocated / MAX_SIZE_BYTES;

    figures('disk-fill', {
      max_size_MiB: mib(MAX_SIZE_BYTES),
      bound_dir_MiB: mib(2 * MAX_SIZE_BYTES),
      peak_dir_allocated_MiB: mib(peak.allocated),
      peak_dir_apparent_MiB: mib(peak.bytes),
      ratio_to_max_size: ratio.toFixed(2),
      accepted_MiB: mib(acceptedBytes),
      fill: fill.toString(),
      first_507_at_ms: fill.get(507) > 0 ? fullAt : 'never',
      during_fill: `GET ${duringFill.get} DELETE ${duringFill.del}`,
      deletes: deletes.toString(),
      put_after_delete: recovery.toString(),
      rss_growth_MiB: mib(m.growthBytes),
      legit_worst_ms: m.worstMs.toFixed(0),
      legit: m.legitStatuses.toString(),
      elapsed_ms: elapsed,
    });

    checks.ok(fill.get(507) > 0, `no 507 before ${mib(acceptedBytes)} MiB were accepted (max_size ${MAX_SIZE}): ${fill.toString()}`);
    checks.ok(badProblems.length === 0, `507 answers that are not ${INSUFFICIENT_STORAGE} problem documents: ${badProblems.slice(0, 3).join('; ')}`);
    checks.ok(fill.unexpected5xx().length === 0, `the writers saw server errors: ${fill.toString()}`);
    checks.ok(ratio < 2, `the data directory reached ${mib(peak.allocated)} MiB, ${ratio.toFixed(2)} × max_size (bound 2 ×); ${mib(afterFill.allocated)} MiB after the fill`);
    checks.ok(duringFill.get === 200, `GET of an early key during the fill answered ${duringFill.get}`);
    checks.ok(duringFill.del === 204, `DELETE during the fill answered ${duringFill.del}`);
    checks.ok(deletes.get(204) === written.length, `deleting the attack's keys answered ${deletes.toString()}`);
    checks.ok(recovered === 201, `a PUT after the deletes answered ${recovery.toString()}`);
    checks.ok(healthz === 200, `/healthz answered ${healthz}`);
    checkLegit(checks, m);
    checkService(checks, f, workersBefore);
    checks.ok(elapsed <= ATTACK_BUDGET_MS, `the attack took ${elapsed} ms (budget ${ATTACK_BUDGET_MS})`);
    await killService(f);
    checks.done();
  });
});
