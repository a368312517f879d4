/**
 * Attack (issue 23, findings 3, 4 and 10): damaged storage, and two servers on one data
 * directory, against real `firkin serve` processes, the files damaged with `dd` and
 * `truncate` as a failing disk or a careless operator would.
 *
 * - A data file whose meta pages were overwritten, whose pages LMDB crashes on, that is
 *   empty, truncated or not an LMDB file at all: the server must refuse to start, within
 *   10 s, with exit 3 (which the systemd unit does not restart) and one line on stderr
 *   naming the file, and must change nothing in it; `firkin store reset` then moves it
 *   aside (byte for byte) and the next start serves an empty store. Before: SIGSEGV or
 *   SIGBUS with no output at all (with workers, "a worker failed to start"), or, for a
 *   0-byte file, an empty store served without a word.
 * - A stored value whose bytes were flipped on disk while the server runs: never served
 *   (500), counted in firkin_embedded_damaged_records_total, logged without the key; a
 *   write replaces it. Before: served with 200.
 * - A second `firkin serve` on the data directory of a running one: exit 1 within 10 s,
 *   one line naming the directory and the first one's pid; the first serves on, a
 *   read-only `firkin store check` still reads the live store, and once the first is
 *   killed (SIGKILL: no clean-up) a new one starts. Before: both ran side by side.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { processTree } from '../../tools/proc-stats.js';
import { request, type Reply } from '../helpers/http.js';
import { scrape } from '../helpers/prometheus.js';
import { FIRKIN_BIN, spawnFirkin } from '../helpers/process.js';
import { watchLog } from '../helpers/secrets.js';
import { atFileEnd, tempDir } from '../helpers/tmp.js';
import { checkLegit, Checks, checkService, figures, killService, logLines, startMonitor, TEST_TIMEOUT_MS, WORKER_COUNTS, workerPids } from './harness.js';

/** A refusal must come within this. */
const REFUSAL_MS = 10_000;
const STORE_UNUSABLE = 3;

const sha = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');

/** Run a command that must succeed (dd, truncate). */
function run(command: string, ...args: string[]): void {
  const r = spawnSync(command, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${command} ${args.join(' ')}: ${r.stderr}`);
}

/** `dd` the bytes of `bytes` over `file` at `offset`, in place. */
function ddBytes(file: string, offset: number, bytes: Buffer): void {
  const from = join(tempDir(), 'bytes');
  writeFileSync(from, bytes);
  run('dd', `if=${from}`, `of=${file}`, 'bs=1', `seek=${offset}`, `count=${bytes.length}`, 'conv=notrunc', 'status=none');
}

/**
 * The page size, and the main tree's root page of the newest snapshot, from the data file's
 * meta pages (LMDB's layout: a 24-byte page header, then MDB_meta: magic, version, address,
 * map size, the free-page tree's MDB_db (its first field the page size), the main tree's
 * MDB_db (its root at byte 40 of 48), the last page, the txnid).
 */
function layout(file: string): { pageSize: number; mainRoot: number } {
  const data = readFileSync(file);
  const pageSize = data.readUInt32LE(48);
  const meta = (at: number) => ({ root: Number(data.readBigUInt64LE(at + 136)), txnid: data.readBigUInt64LE(at + 152) });
  const [a, b] = [meta(0), meta(pageSize)];
  return { pageSize, mainRoot: (b.txnid > a.txnid ? b : a).root };
}

interface Run {
  readonly code: number | null;
  readonly signal: string | null;
  readonly stderr: string;
  readonly stdout: string[];
  /** It started serving (the damage went unnoticed): killed then. */
  readonly listening: boolean;
  readonly timedOut: boolean;
  readonly ms: number;
}

/** `firkin serve` on `config` in `dir`, until it exits, listens (then it is killed) or REFUSAL_MS pass. */
function serveOnce(dir: string, config: Record<string, unknown>, name = 'config.yaml'): Promise<Run> {
  const file = join(dir, name);
  writeFileSync(file, stringify({ listen_port: 0, metrics_max_age_ms: 0, ...config }), { mode: 0o600 });
  const started = Date.now();
  const child = spawn(process.execPath, [FIRKIN_BIN, 'serve', '--config', file], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const stdout: string[] = [];
  watchLog(`firkin serve (${name}) in ${dir}`, stdout);
  let stderr = '';
  let listening = false;
  let timedOut = false;
  const killTree = (): void => {
    for (const pid of processTree(child.pid!).reverse()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  };
  atFileEnd(() => child.exitCode === null && child.signalCode === null && killTree());
  let partial = '';
  child.stdout.on('data', (d: Buffer) => {
    partial += d.toString('utf8');
    const lines = partial.split('\n');
    partial = lines.pop()!;
    for (const line of lines) {
      stdout.push(line);
      if (line.includes('"msg":"listening"') && !listening) {
        listening = true;
        killTree();
      }
    }
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  const timer = setTimeout(() => {
    timedOut = true;
    killTree();
  }, REFUSAL_MS);
  return new Promise((resolve) =>
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stderr, stdout, listening, timedOut, ms: Date.now() - started });
    }),
  );
}

/** A store written by a real server: `count` sessions under `keys`, stopped cleanly. Returns the data file. */
async function storeWithSessions(dir: string, keys: readonly string[]): Promise<string> {
  const f = await spawnFirkin(dir, { workers: 1, embedded: { path: 'data' } });
  for (const key of keys) {
    const r = await request(`${f.url}/sessions/v1/${encodeURIComponent(key)}`, { method: 'PUT', body: randomBytes(2048) });
    if (r.status !== 201) throw new Error(`PUT answered ${r.status}`);
  }
  f.child.kill('SIGTERM');
  await f.exited;
  return join(dir, 'data', 'firkin.mdb');
}

/** How each damage is done to the data file, with dd or truncate. */
const DAMAGES: Record<string, (file: string) => void> = {
  // Page 0's MDB_meta (magic, version, the trees' roots, the last page, the txnid) overwritten with random bytes.
  'meta page 0 overwritten': (file) => run('dd', 'if=/dev/urandom', `of=${file}`, 'bs=1', 'seek=24', 'count=160', 'conv=notrunc', 'status=none'),
  // The other meta page, which LMDB opens without checking when its txnid is larger.
  'meta page 1 overwritten': (file) => run('dd', 'if=/dev/urandom', `of=${file}`, 'bs=1', `seek=${layout(file).pageSize + 24}`, 'count=160', 'conv=notrunc', 'status=none'),
  // The header of the main tree's root page, all ones: LMDB reads past the end of the file (SIGBUS).
  'the main tree root page header overwritten': (file) => {
    const { pageSize, mainRoot } = layout(file);
    ddBytes(file, mainRoot * pageSize, Buffer.alloc(24, 0xff));
  },
  '0 bytes (truncate -s 0)': (file) => run('truncate', '-s', '0', file),
  'truncated to half': (file) => run('truncate', '-s', String(Math.floor(statSync(file).size / 2 / 4096) * 4096), file),
  'a foreign file (random bytes)': (file) => run('dd', 'if=/dev/urandom', `of=${file}`, 'bs=4096', 'count=64', 'status=none'),
};

describe('attack: a damaged data file', () => {
  for (const workers of WORKER_COUNTS) {
    for (const [damage, apply] of Object.entries(DAMAGES)) {
      it(`refuses to start on it, exit 3 and one line naming the file, changing nothing: ${damage} (workers: ${workers})`, { timeout: TEST_TIMEOUT_MS }, async () => {
        const dir = tempDir();
        const file = await storeWithSessions(dir, Array.from({ length: 5 }, (_, i) => `enwiki:MWSession:damaged-file-${i}`));
        apply(file);
        const before = sha(file);
        const r = await serveOnce(dir, { workers, embedded: { path: 'data' } });
        const lines = r.stderr.trim().split('\n').filter((l) => l !== '');
        figures('damaged-store', {
          damage: damage.replace(/[ ;=]/g, '_'),
          workers,
          exit: r.code ?? r.signal ?? 'none',
          listening: String(r.listening),
          ms: r.ms,
          stderr_lines: lines.length,
        });
        const checks = new Checks();
        checks.ok(!r.listening, `it started serving the damaged store (stderr: ${r.stderr.trim() || 'nothing'})`);
        checks.ok(!r.timedOut, `still running after ${REFUSAL_MS} ms`);
        checks.ok(r.signal === null, `it died of ${r.signal} (stderr: ${r.stderr.trim() || 'nothing'})`);
        checks.ok(r.code === STORE_UNUSABLE, `exit ${r.code}, not ${STORE_UNUSABLE}`);
        checks.ok(lines.length === 1, `${lines.length} lines on stderr: ${r.stderr.trim() || 'nothing'}`);
        checks.ok(lines[0]?.includes(file) && /cannot be used/.test(lines[0]), `the line names the file and says it cannot be used: ${lines[0]}`);
        checks.ok(/store reset/.test(lines[0] ?? ''), 'the line says how to start afresh');
        checks.ok(existsSync(file) && sha(file) === before, 'the file is exactly as it was');
        checks.ok(r.ms < REFUSAL_MS, `refused in ${r.ms} ms`);
        checks.done();
      });
    }
  }

  it('firkin store reset moves it aside, byte for byte, and the next start serves an empty store', { timeout: TEST_TIMEOUT_MS }, async () => {
    const dir = tempDir();
    const key = 'enwiki:MWSession:before-the-reset-0001';
    const file = await storeWithSessions(dir, [key]);
    run('truncate', '-s', String(statSync(file).size / 2), file);
    const damaged = sha(file);
    const refused = await serveOnce(dir, { workers: 1, embedded: { path: 'data' } });
    const reset = spawnSync(process.execPath, [FIRKIN_BIN, 'store', 'reset', '--config', join(dir, 'config.yaml')], { cwd: dir, encoding: 'utf8', timeout: 20_000 });
    const aside = readdirSync(join(dir, 'data')).filter((f) => /^firkin\.mdb\.damaged-\d{8}T\d{6}Z$/.test(f));
    const checks = new Checks();
    checks.ok(refused.code === STORE_UNUSABLE, `the damaged store: exit ${refused.code ?? refused.signal}`);
    checks.ok(reset.status === 0, `store reset: exit ${reset.status}: ${reset.stderr}`);
    checks.ok(aside.length === 1 && sha(join(dir, 'data', aside[0]!)) === damaged, `the damaged file is kept, as it was: ${readdirSync(join(dir, 'data')).join(', ')}`);
    if (reset.status === 0) {
      const f = await spawnFirkin(dir, { workers: 1, embedded: { path: 'data' } });
      const old = await request(`${f.url}/sessions/v1/${encodeURIComponent(key)}`);
      const put = await request(`${f.url}/sessions/v1/${encodeURIComponent(key)}`, { method: 'PUT', body: 'after the reset' });
      figures('damaged-store', { damage: 'reset', exit: refused.code ?? 'none', reset: reset.status ?? 'none', old_key: old.status, put: put.status });
      checks.ok(old.status === 404 && put.status === 201, `after the reset: GET ${old.status}, PUT ${put.status}`);
      await killService(f);
    }
    checks.done();
  });
});

describe('attack: a data file damaged under a running server', () => {
  it('a worker that crashes on it is not restarted in a loop: the primary probes again and stops, exit 3, naming the file (workers: 2)', { timeout: TEST_TIMEOUT_MS }, async () => {
    const dir = tempDir();
    const f = await spawnFirkin(dir, { workers: 2, embedded: { path: 'data' } });
    const key = 'enwiki:MWSession:under-a-running-server-0001';
    const put = await request(`${f.url}/sessions/v1/${encodeURIComponent(key)}`, { method: 'PUT', body: 'a session' });
    const file = join(dir, 'data', 'firkin.mdb');
    // Page 0's meta overwritten, then a worker dies as LMDB makes a process die on a damaged page.
    run('dd', 'if=/dev/urandom', `of=${file}`, 'bs=1', 'seek=24', 'count=160', 'conv=notrunc', 'status=none');
    const [crashed] = workerPids(f);
    const started = Date.now();
    process.kill(crashed!, 'SIGSEGV');
    const exit = await Promise.race([f.exited, sleep(REFUSAL_MS).then(() => 'still running')]);
    const ms = Date.now() - started;
    const lines = logLines(f);
    const fatal = lines.find((l) => l.level === 'FATAL');
    const restarts = lines.filter((l) => typeof l.msg === 'string' && /a worker died; starting another/.test(l.msg)).length;
    figures('damaged-under-server', { put: put.status, exit: String(exit), ms, restarts, fatal: String(fatal?.msg ?? 'none').slice(0, 60).replace(/[;=]/g, '_') });
    const checks = new Checks();
    checks.ok(exit === STORE_UNUSABLE, `the primary: ${exit} within ${REFUSAL_MS} ms (${restarts} worker restarts)`);
    checks.ok(typeof fatal?.msg === 'string' && fatal.msg.includes(file) && /SIGSEGV/.test(fatal.msg), `its FATAL line names the signal and the file: ${String(fatal?.msg)}`);
    await killService(f);
    checks.done();
  });
});

describe('attack: a value whose bytes were flipped on disk', () => {
  for (const workers of WORKER_COUNTS) {
    it(`is never served: 500, counted, logged without its key; a write replaces it (workers: ${workers})`, { timeout: TEST_TIMEOUT_MS }, async () => {
      const dir = tempDir();
      const f = await spawnFirkin(dir, { workers, embedded: { path: 'data' } });
      const url = (key: string): string => `${f.url}/sessions/v1/${encodeURIComponent(key)}`;
      const victim = `enwiki:MWSession:flipped-${randomBytes(8).toString('hex')}`;
      const other = `enwiki:MWSession:intact-${randomBytes(8).toString('hex')}`;
      const value = Buffer.concat([Buffer.from('{"wsUserName":"Victim","wsToken":"'), randomBytes(2000).map((b) => 0x61 + (b % 26)), Buffer.from('"}')]);
      const stored = await request(url(victim), { method: 'PUT', body: value });
      await request(url(other), { method: 'PUT', body: randomBytes(2048) });
      const monitor = await startMonitor(f, { warmupRounds: 20 });
      const workersBefore = workerPids(f);

      // One byte in the middle of the value, flipped in the data file under the running server.
      const file = join(dir, 'data', 'firkin.mdb');
      const at = readFileSync(file).indexOf(value) + 1000;
      ddBytes(file, at, Buffer.from([readFileSync(file)[at]! ^ 0x04]));
      const flipped = Buffer.from(value);
      flipped[1000] = flipped[1000]! ^ 0x04;

      // A client insisting for a second: every answer 500, each one counted, the log bounded.
      const gets: Reply[] = [];
      for (const until = Date.now() + 1000; Date.now() < until; ) {
        gets.push(await request(url(victim)));
        await sleep(20);
      }
      const head = await request(url(victim), { method: 'HEAD' });
      const touch = await request(url(victim), { method: 'PATCH' });
      const cas = await request(url(victim), { method: 'PUT', body: 'x', headers: { 'If-Match': stored.headers.etag ?? '"none"' } });
      const intact = await request(url(other));
      const metrics = await scrape(f.url);
      const damagedCount = metrics.value('firkin_embedded_damaged_records_total', { namespace: 'default' }) ?? 0;
      const replaced = await request(url(victim), { method: 'PUT', body: 'a new session' });
      const after = await request(url(victim));
      const m = await monitor.stop();
      const lines = logLines(f).filter((l) => typeof l.msg === 'string' && l.msg.startsWith('damaged record'));

      figures('flipped-value', {
        workers,
        get: [...new Set(gets.map((g) => g.status))].map((st) => `${st}x${gets.filter((g) => g.status === st).length}`).join(','),
        head: head.status,
        patch: touch.status,
        if_match_put: cas.status,
        other_key: intact.status,
        damaged_metric: damagedCount,
        damage_log_lines: lines.length,
        put_after: replaced.status,
        get_after: after.status,
        legit_worst_ms: m.worstMs.toFixed(0),
      });
      const checks = new Checks();
      checks.ok(stored.status === 201 && at >= 1000, 'the value was stored and found in the file');
      checks.ok(gets.every((g) => g.status === 500), `GET of the damaged value answered ${gets.map((g) => g.status).join(', ')}, not 500`);
      checks.ok(!gets.some((g) => g.body.includes(flipped.subarray(900, 1100)) || g.body.includes(value.subarray(900, 1100))), 'the damaged bytes were served');
      checks.ok(head.status === 500, `HEAD answered ${head.status}`);
      checks.ok(touch.status === 500, `PATCH (touch) answered ${touch.status}`);
      checks.ok(cas.status === 412, `a PUT with If-Match naming it answered ${cas.status}`);
      checks.ok(intact.status === 200, `another key answered ${intact.status}`);
      checks.ok(damagedCount >= gets.length + 2, `firkin_embedded_damaged_records_total{namespace="default"} is ${damagedCount} after ${gets.length + 2} reads of it`);
      checks.ok(lines.length >= 1 && lines.every((l) => l.level === 'ERROR' && l.namespace === 'default'), `${lines.length} "damaged record" ERROR line(s) naming the namespace`);
      checks.ok(lines.length <= workers, `${lines.length} "damaged record" lines for ${gets.length + 2} reads: at most one a minute per process`);
      checks.ok(replaced.status === 201 && after.status === 200 && after.body.toString() === 'a new session', `a write replaced it: PUT ${replaced.status}, GET ${after.status}`);
      checkLegit(checks, m);
      checkService(checks, f, workersBefore);
      await killService(f);
      checks.done(); // the key in no log line: checked when the file ends (helpers/secrets.ts)
    });
  }
});

describe('attack: two servers on one data directory', () => {
  for (const workers of WORKER_COUNTS) {
    it(`the second exits 1 naming the directory and the first one's pid; reads go on; a killed holder frees it (workers: ${workers})`, { timeout: TEST_TIMEOUT_MS }, async () => {
      const dir = tempDir();
      const data = join(dir, 'data');
      const first = await spawnFirkin(dir, { workers, embedded: { path: data } });
      const key = `enwiki:MWSession:two-servers-${randomBytes(8).toString('hex')}`;
      const put = await request(`${first.url}/sessions/v1/${encodeURIComponent(key)}`, { method: 'PUT', body: 'held by the first' });
      const second = await serveOnce(tempDir(), { workers, embedded: { path: data } });
      const lines = second.stderr.trim().split('\n').filter((l) => l !== '');
      const stillServed = await request(`${first.url}/sessions/v1/${encodeURIComponent(key)}`);
      const check = spawnSync(process.execPath, [FIRKIN_BIN, 'store', 'check', '--config', join(dir, 'config.yaml')], { encoding: 'utf8', timeout: 20_000 });
      await killService(first); // SIGKILL: the lock is never released by the holder itself
      const third = await spawnFirkin(tempDir(), { workers, embedded: { path: data } });
      const afterKill = await request(`${third.url}/sessions/v1/${encodeURIComponent(key)}`);
      figures('two-servers', {
        workers,
        second_exit: second.code ?? second.signal ?? 'none',
        second_listening: String(second.listening),
        second_ms: second.ms,
        first_get: stillServed.status,
        store_check: check.status ?? 'none',
        after_kill_get: afterKill.status,
      });
      const checks = new Checks();
      checks.ok(put.status === 201, `the first server's PUT answered ${put.status}`);
      checks.ok(!second.listening, 'the second server started beside the first');
      checks.ok(second.code === 1 && !second.timedOut, `the second server: exit ${second.code ?? second.signal}${second.timedOut ? ', still running' : ''}`);
      checks.ok(lines.length === 1 && lines[0]!.includes(data) && lines[0]!.includes(`pid ${first.child.pid}`), `one line naming ${data} and pid ${first.child.pid}: ${second.stderr.trim()}`);
      checks.ok(stillServed.status === 200, `the first server answered ${stillServed.status} afterwards`);
      checks.ok(check.status === 0, `firkin store check on the live store: exit ${check.status}: ${check.stdout}${check.stderr}`);
      checks.ok(afterKill.status === 200 && afterKill.body.toString() === 'held by the first', `a server started after the first was killed: GET ${afterKill.status}`);
      await killService(third);
      checks.done();
    });
  }
});
