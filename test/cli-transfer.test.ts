// test-tier: full (slow: about 60 s alone on two cores, a 215 MB stream through two processes, a 160 MB one held back by a lock; scripts/test-files.mjs)
/**
 * `firkin export`, `firkin import` and `firkin backup` on the embedded engine, as an
 * operator runs them beside live servers (real processes, real HTTP, real LMDB):
 * sessions move with their values and remaining TTLs, a second import changes nothing,
 * an import never overwrites a newer value, expired sessions stay behind, streams that
 * are not whole are refused, memory stays bounded on a large store with a slow reader,
 * and a backup taken under write load is served as it is. (Cassandra: cli-transfer-cassandra.test.ts;
 * sealed namespaces: cli-transfer-sealed.test.ts.)
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readdirSync, readFileSync, statSync, watch, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { stringify } from 'yaml';
import { EmbeddedEngine } from '../src/storage/embedded/lmdb-engine.js';
import { request } from './helpers/http.js';
import { FIRKIN_BIN, runFirkin, spawnFirkin, type FirkinProcess } from './helpers/process.js';
import { tempDir } from './helpers/tmp.js';
import { endLine, headerLine, recordLine } from '../src/transfer-format.js';
import { exportTo, finished, firkinAsync, pipeline, rssAnon, streamRecords } from './helpers/transfer.js';

const NAMESPACES = [
  { name: 'sessions', base_uri: '/sessions/v1/', default_ttl: 3600 },
  { name: 'forever', base_uri: '/forever/v1/', default_ttl: 0 },
];

interface Server {
  readonly dir: string;
  readonly config: string;
  readonly process: FirkinProcess;
  at(ns: string, key: string): string;
}

async function embeddedServer(extra: Record<string, unknown> = {}, dir = tempDir()): Promise<Server> {
  const config = { embedded: { path: join(dir, 'data') }, namespaces: NAMESPACES, ...extra };
  const process = await spawnFirkin(dir, config);
  return { dir, config: join(dir, 'config.yaml'), process, at: (ns, key) => `${process.url}/${ns}/v1/${encodeURIComponent(key)}` };
}

const put = async (url: string, body: string | Buffer, maxAge?: number): Promise<void> => {
  const r = await request(url, { method: 'PUT', body, headers: maxAge === undefined ? {} : { 'cache-control': `max-age=${maxAge}` } });
  assert.equal(r.status, 201, `PUT: ${r.status}`);
};

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Keep writing new sessions to `server` until stopped: how many were written. */
function writeLoad(server: Server, prefix: string): { stop(): Promise<string[]> } {
  let running = true;
  const written: string[] = [];
  const loop = (async () => {
    for (let i = 0; running; i++) {
      const key = `${prefix}-${i}-${randomBytes(4).toString('hex')}`;
      await put(server.at('sessions', key), `load ${key}`, 600);
      written.push(key);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return written;
    },
  };
}

describe('firkin export | firkin import (embedded)', () => {
  it('moves every live session between two serving stores, value and remaining TTL; run twice, nothing changes; a newer value is kept', { timeout: 120_000 }, async () => {
    const [a, b] = await Promise.all([embeddedServer(), embeddedServer()]);
    const sessions = Array.from({ length: 120 }, (_, i) => ({ key: `enwiki:MWSession:move-${i}-${randomBytes(6).toString('hex')}`, value: randomBytes(20 + i * 13), ttl: 120 + i * 37 }));
    const forever = Array.from({ length: 5 }, (_, i) => ({ key: `forever:token:${i}-${randomBytes(6).toString('hex')}`, value: randomBytes(50) }));
    for (const s of sessions) await put(a.at('sessions', s.key), s.value, s.ttl);
    for (const s of forever) await put(a.at('forever', s.key), s.value);
    // Gone before the export: never in the stream.
    const gone = `enwiki:MWSession:gone-${randomBytes(6).toString('hex')}`;
    await put(a.at('sessions', gone), 'short-lived', 1);
    // Written to the target first, newer than the source's copy: an import must keep it.
    const newer = sessions[7]!;
    await put(b.at('sessions', newer.key), 'newer on the target', 900);
    await sleep(1100);

    const stream = join(a.dir, 'stream.ndjson');
    const load = writeLoad(a, 'enwiki:MWSession:during-export');
    const exported = await exportTo(a.config, stream);
    await load.stop();
    assert.equal(exported.code, 0, exported.stderr);
    const [store, summary, ...rest] = exported.stderr.split('\n');
    assert.equal(store, `firkin: export: embedded store at ${join(a.dir, 'data')}`, 'the store it reads, named first');
    assert.match(summary!, /^firkin: export: \d+ sessions \(sessions \d+, forever 5\) from the embedded store in [\d.]+ s$/);
    assert.deepEqual(rest, [''], 'one summary line, no progress (stderr is no terminal)');
    const records = streamRecords(stream);
    assert.ok(!records.some((r) => r.key === gone), 'an expired session is not exported');
    for (const s of sessions) assert.ok(records.some((r) => r.key === s.key && r.value.equals(s.value)), 'every live session is in the stream');

    const importLoad = writeLoad(b, 'enwiki:MWSession:during-import');
    const first = await firkinAsync(['import', '--config', b.config], { file: stream });
    const duringImport = await importLoad.stop();
    assert.equal(first.code, 0, first.stderr);
    const moved = records.filter((r) => r.ns === 'sessions').length;
    assert.match(first.stdout, new RegExp(`^namespace sessions: ${moved - 1} added, 1 already present \\(kept\\), 0 expired \\(skipped\\)$`, 'm'));
    assert.match(first.stdout, /^namespace forever: 5 added, 0 already present \(kept\), 0 expired \(skipped\)$/m);
    assert.ok(duringImport.length > 0, 'the target served writes during the import');
    for (const key of duringImport) assert.equal((await request(b.at('sessions', key))).status, 200);

    for (const s of sessions) {
      const [source, target] = [await request(a.at('sessions', s.key)), await request(b.at('sessions', s.key))];
      assert.equal(target.status, 200);
      if (s === newer) {
        assert.equal(target.body.toString(), 'newer on the target', 'an import never overwrites a live value');
        continue;
      }
      assert.ok(target.body.equals(s.value), 'the same bytes');
      const drift = Math.abs(Number(target.headers['x-ttl']) - Number(source.headers['x-ttl']));
      assert.ok(drift <= 2, `the remaining TTL is kept within 2 s (source ${source.headers['x-ttl']}, target ${target.headers['x-ttl']})`);
    }
    for (const s of forever) {
      const target = await request(b.at('forever', s.key));
      assert.ok(target.body.equals(s.value));
      assert.equal(target.headers['x-ttl'], undefined, 'a session that never expires still never does');
    }
    assert.equal((await request(b.at('sessions', gone))).status, 404);

    // The same stream again: nothing added, nothing overwritten (the target's own writes since included).
    await put(b.at('sessions', sessions[3]!.key), 'rewritten on the target since', 900);
    const again = await firkinAsync(['import', '--config', b.config], { file: stream });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, new RegExp(`^namespace sessions: 0 added, ${moved} already present \\(kept\\), 0 expired \\(skipped\\)$`, 'm'));
    assert.match(again.stdout, /^namespace forever: 0 added, 5 already present/m);
    assert.equal((await request(b.at('sessions', sessions[3]!.key))).body.toString(), 'rewritten on the target since');
    // Through a pipe, from the live source: only what the source took since the first export is added.
    const second = await pipeline(a.config, b.config);
    assert.equal(second.exported.code, 0, second.exported.stderr);
    assert.equal(second.imported.code, 0, second.imported.stderr);
    const [, added, present] = /^namespace sessions: (\d+) added, (\d+) already present \(kept\), 0 expired \(skipped\)$/m.exec(second.imported.stdout) ?? [];
    assert.equal(Number(present), moved, 'every session of the first stream is kept as the target holds it');
    assert.equal(Number(added), Number(/sessions (\d+), forever/.exec(second.exported.stderr)?.[1]) - moved, 'only sessions the source took after the first export are added');
    assert.equal((await request(b.at('sessions', sessions[3]!.key))).body.toString(), 'rewritten on the target since');
    for (const r of [first, again, second.imported, second.exported, exported]) {
      for (const s of sessions) assert.ok(!r.stdout.includes(s.key) && !r.stderr.includes(s.key), 'no session key in any output');
    }
  });

  it('skips a session that expires between export and import, and clamps a TTL to the target namespace', { timeout: 60_000 }, async () => {
    const a = await embeddedServer();
    // The target keeps sessions for 100 s at most, and gives its default to those that never expire.
    const b = await embeddedServer({
      namespaces: [
        { name: 'sessions', base_uri: '/sessions/v1/', default_ttl: 100 },
        { name: 'forever', base_uri: '/forever/v1/', default_ttl: 50 },
      ],
    });
    const brief = `enwiki:MWSession:brief-${randomBytes(6).toString('hex')}`;
    const long = `enwiki:MWSession:long-${randomBytes(6).toString('hex')}`;
    const endless = `forever:token:${randomBytes(6).toString('hex')}`;
    // 6 s: live while a loaded machine starts the export process (CI once took over 2 s), gone by the import.
    await put(a.at('sessions', brief), 'brief', 6);
    const briefWritten = Date.now(); // after the store took it: its expiry is at most 6 s from here
    await put(a.at('sessions', long), 'long', 3000);
    await put(a.at('forever', endless), 'endless');
    const stream = join(a.dir, 'stream.ndjson');
    assert.equal((await exportTo(a.config, stream)).code, 0);
    assert.equal(streamRecords(stream).length, 3, 'all three were live at the export');
    await sleep(Math.max(0, briefWritten + 6_600 - Date.now()));
    const r = await firkinAsync(['import', '--config', b.config], { file: stream });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^namespace sessions: 1 added, 0 already present \(kept\), 1 expired \(skipped\)$/m);
    assert.equal((await request(b.at('sessions', brief))).status, 404);
    assert.equal((await request(b.at('sessions', long))).headers['x-ttl'], '100', "clamped to the target's default_ttl, as a write is");
    assert.equal((await request(b.at('forever', endless))).headers['x-ttl'], '50', "no expiry: the target namespace's default_ttl");
  });

  it("reads past a record larger than the target's max_value_bytes allows, without holding it, and takes the others (exit 1)", { timeout: 60_000 }, async () => {
    const a = await embeddedServer();
    const b = await embeddedServer({ max_value_bytes: 4096 });
    const small = `enwiki:MWSession:small-${randomBytes(6).toString('hex')}`;
    const huge = `enwiki:MWSession:huge-${randomBytes(6).toString('hex')}`;
    await put(a.at('sessions', small), 'small', 600);
    await put(a.at('sessions', huge), randomBytes(200_000), 600);
    const stream = join(a.dir, 'stream.ndjson');
    assert.equal((await exportTo(a.config, stream)).code, 0);
    const r = await firkinAsync(['import', '--config', b.config], { file: stream });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stdout, /^namespace sessions: 1 added, 0 already present \(kept\), 0 expired \(skipped\)$/m);
    assert.match(r.stdout, /^import: 2 records read .*, 1 refused \(a line longer than max_value_bytes 4096 allows\);/m);
    assert.match(r.stderr, /^firkin: import: 1 records refused by the limits of .*config\.yaml/m);
    assert.equal((await request(b.at('sessions', small))).body.toString(), 'small');
    assert.equal((await request(b.at('sessions', huge))).status, 404);
  });

  it('refuses a stream that is cut short, damaged or of another version (exit 4), and a namespace the target lacks (exit 2)', { timeout: 60_000 }, async () => {
    const a = await embeddedServer();
    const b = await embeddedServer();
    const keys = Array.from({ length: 6 }, (_, i) => `enwiki:MWSession:cut-${i}-${randomBytes(6).toString('hex')}`);
    for (const k of keys) await put(a.at('sessions', k), `value of ${k}`, 600);
    const stream = join(a.dir, 'stream.ndjson');
    assert.equal((await exportTo(a.config, stream)).code, 0);
    const whole = readFileSync(stream, 'utf8');
    const lines = whole.split('\n');

    const refused = async (text: string, message: RegExp): Promise<string> => {
      const r = await firkinAsync(['import', '--config', b.config], { text });
      assert.equal(r.code, 4, `exit 4 for ${message}: ${r.stderr}`);
      assert.match(r.stderr, message);
      return r.stderr;
    };
    for (const text of ['', 'GET / HTTP/1.1\n', '{"firkin-export":2,"at":0,"namespaces":[]}\n', `${lines[0]}\n{"ns":"sessions","key":"x"}\n`]) {
      await refused(text, /^firkin: import refused: (the input is empty|the input is not a firkin export stream|the stream is of export format 2|line 2 is not a record)/m);
    }
    for (const k of keys) assert.equal((await request(b.at('sessions', k))).status, 404, 'nothing taken from a foreign stream');
    // Cut at a line's end (the end line lost), and in the middle of a line.
    await refused(`${lines.slice(0, 4).join('\n')}\n`, /import refused: the stream ends after 3 records without its end line: it was cut short \(truncated\)\. The 3 records before it were taken/);
    await refused(whole.slice(0, whole.length - 40), /import refused: the stream ends in the middle of line \d+: it was cut short \(truncated\)/);
    // The whole stream then completes the import.
    const r = await firkinAsync(['import', '--config', b.config], { text: whole });
    assert.equal(r.code, 0, r.stderr);
    for (const k of keys) assert.equal((await request(b.at('sessions', k))).body.toString(), `value of ${k}`);

    // A target without the stream's namespace: refused before anything is written, unless --namespace picks the others.
    const c = await embeddedServer({ namespaces: [NAMESPACES[1]] });
    const other = await firkinAsync(['import', '--config', c.config], { text: whole });
    assert.equal(other.code, 2);
    assert.match(other.stderr, /import refused: the stream holds namespace "sessions", which .*config\.yaml does not configure/);
    const picked = await firkinAsync(['import', '--config', c.config, '--namespace', 'forever'], { text: whole });
    assert.equal(picked.code, 0, picked.stderr);
    assert.match(picked.stdout, /6 of other namespaces skipped/);
    assert.equal(runFirkin('export', '--config', a.config, '--namespace', 'nope').code, 2);

    // The stream's own text reaches the terminal quoted: no escape sequence passes.
    const escapes = '\x1b]0;title\x07\x1b[2J\u009b31m';
    const hostile = headerLine({ at: Date.now(), source: escapes, firkin: escapes, namespaces: [{ name: 'sessions', sealed: false }, { name: escapes, sealed: false }] }) + endLine(0);
    const named = await firkinAsync(['import', '--config', b.config], { text: hostile });
    assert.equal(named.code, 2, named.stderr);
    assert.match(named.stderr, /the stream holds namespace "\\u001b\]0;title\\u0007\\u001b\[2J\\u009b31m", which/);
    const sourced = await firkinAsync(['import', '--config', b.config, '--namespace', 'sessions'], { text: hostile });
    assert.equal(sourced.code, 0, sourced.stderr);
    assert.match(sourced.stdout, /records read from a stream of the "\\u001b\]0;title/);
    for (const r of [named, sourced]) assert.ok(!/[\x00-\x09\x0b-\x1f\x7f-\x9f]/.test(r.stdout + r.stderr), `no control character printed: ${JSON.stringify(r)}`);
    // A moment no date holds: refused at the header (exit 4), nothing taken.
    const far = `{"firkin-export":1,"at":9e15,"namespaces":[{"name":"sessions","sealed":false}]}\n{"ns":"sessions","key":"enwiki:MWSession:far","value":"eA==","ttl":null}\n${endLine(1)}`;
    const farOff = await firkinAsync(['import', '--config', b.config], { text: far });
    assert.equal(farOff.code, 4, farOff.stderr);
    assert.match(farOff.stderr, /^firkin: import refused: line 1, the stream's header, is damaged: its "at", 9000000000000000, is no moment/);
    assert.equal((await request(b.at('sessions', 'enwiki:MWSession:far'))).status, 404);
  });

  it('names the embedded store each command works on, on stderr: a relative embedded.path is beside the config file; an import may create a new store, and says so', { timeout: 60_000 }, async () => {
    const a = await embeddedServer();
    await put(a.at('sessions', 'enwiki:MWSession:named'), 'named', 600);
    // A config of its own with a relative path, run from another directory (as from a shell, outside systemd).
    const dir = tempDir();
    const config = join(dir, 'relative.yaml');
    writeFileSync(config, stringify({ embedded: { path: 'elsewhere' }, namespaces: NAMESPACES }));
    const where = join(dir, 'elsewhere');
    const stream = join(a.dir, 'stream.ndjson');
    const exported = await exportTo(a.config, stream);
    assert.equal(exported.code, 0, exported.stderr);
    assert.ok(exported.stderr.startsWith(`firkin: export: embedded store at ${join(a.dir, 'data')}\n`), exported.stderr);
    const first = await firkinAsync(['import', '--config', config], { file: stream });
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.stderr, `firkin: import: embedded store at ${where} (none there yet: this import creates it)\n`);
    const again = await firkinAsync(['import', '--config', config], { file: stream });
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stderr, `firkin: import: embedded store at ${where}\n`);
    const backup = await firkinAsync(['backup', '--config', config, join(dir, 'copy')]);
    assert.equal(backup.code, 0, backup.stderr);
    assert.equal(backup.stderr, `firkin: backup: embedded store at ${where}\n`);
  });

  it('exports a large store to a slow reader and imports it with bounded memory; progress on a terminal', { timeout: 240_000 }, async () => {
    // 20 000 sessions of 8 KiB: 160 MiB of values, a stream of 215 MB.
    const dir = tempDir();
    const count = 20_000;
    const engine = new EmbeddedEngine({ path: join(dir, 'data') });
    const store = engine.store({ name: 'sessions' });
    const value = (i: number): Buffer => Buffer.alloc(8192, i % 251);
    for (let i = 0; i < count; i += 500) {
      await Promise.all(Array.from({ length: 500 }, (_, j) => store.set(`enwiki:MWSession:bulk-${i + j}`, value(i + j), 3600)));
    }
    await engine.close();
    const a = await embeddedServer({}, dir);
    const b = await embeddedServer();

    const exporter = spawn(process.execPath, [FIRKIN_BIN, 'export', '--config', a.config], { stdio: ['ignore', 'pipe', 'pipe'] });
    const importer = spawn(process.execPath, [FIRKIN_BIN, 'import', '--config', b.config], { stdio: ['pipe', 'pipe', 'pipe'] });
    const [exported, imported] = [finished(exporter, false), finished(importer)];
    const peak = { exporter: 0, importer: 0 };
    const sampler = setInterval(() => {
      peak.exporter = Math.max(peak.exporter, rssAnon(exporter.pid!) ?? 0);
      peak.importer = Math.max(peak.importer, rssAnon(importer.pid!) ?? 0);
    }, 50);
    // A slow reader: 40 MB a second at most, so the export must wait for the pipe.
    let bytes = 0;
    const started = Date.now();
    for await (const chunk of exporter.stdout!) {
      bytes += (chunk as Buffer).length;
      if (!importer.stdin!.write(chunk)) await new Promise((resolve) => importer.stdin!.once('drain', resolve));
      const ahead = bytes / 40_000 - (Date.now() - started);
      if (ahead > 0) await sleep(ahead);
    }
    importer.stdin!.end();
    const [e, i] = await Promise.all([exported, imported]);
    clearInterval(sampler);
    assert.equal(e.code, 0, e.stderr);
    assert.equal(i.code, 0, i.stderr);
    assert.ok(bytes > 200e6, `a stream of ${bytes} bytes`);
    assert.match(i.stdout, new RegExp(`^namespace sessions: ${count} added`, 'm'));
    const MiB = 1024 * 1024;
    assert.ok(peak.exporter > 0 && peak.exporter < 120 * MiB, `export held at most ${Math.round(peak.exporter / MiB)} MiB of its own (the stream: ${Math.round(bytes / MiB)} MiB)`);
    assert.ok(peak.importer > 0 && peak.importer < 150 * MiB, `import held at most ${Math.round(peak.importer / MiB)} MiB of its own`);
    for (const k of [0, 1, 9999, count - 1]) assert.ok((await request(b.at('sessions', `enwiki:MWSession:bulk-${k}`))).body.equals(value(k)));

    // On a terminal, progress once a second on stderr (script(1) gives the import one).
    const c = await embeddedServer();
    const stream = join(dir, 'stream.ndjson');
    assert.equal((await exportTo(a.config, stream)).code, 0);
    const onTerminal = await finished(spawn('script', ['-qec', `"${process.execPath}" "${FIRKIN_BIN}" import --config "${c.config}" < "${stream}"`, '/dev/null'], { stdio: ['ignore', 'pipe', 'pipe'] }));
    assert.equal(onTerminal.code, 0, onTerminal.stdout);
    assert.match(onTerminal.stdout, /\rfirkin import: \d+ sessions, \d+\/s/, 'progress on the terminal');
    assert.match(onTerminal.stdout, new RegExp(`namespace sessions: ${count} added`));
    assert.doesNotMatch(i.stderr, /firkin import: \d+ sessions/, 'no progress when stderr is no terminal');
  });

  it('keeps at most 16 MiB of records in flight: while the target cannot write, it reads no further (64 writes of 3 MiB would hold 192 MiB)', { timeout: 120_000 }, async () => {
    const dir = tempDir();
    const data = join(dir, 'data');
    // The target store and its namespace exist: the importer opens them before the lock below is taken.
    const engine = new EmbeddedEngine({ path: data });
    await engine.store({ name: 'sessions' }).set('enwiki:MWSession:existing', Buffer.from('x'), 600);
    await engine.close();
    const config = join(dir, 'config.yaml');
    writeFileSync(config, stringify({ embedded: { path: data }, max_value_bytes: 4 * 1024 * 1024, namespaces: NAMESPACES }));
    const at = Date.now();
    const big = 40;
    const importer = spawn(process.execPath, [FIRKIN_BIN, 'import', '--config', config], { stdio: ['pipe', 'pipe', 'pipe'] });
    const imported = finished(importer);
    const send = async (text: string): Promise<void> => {
      if (!importer.stdin!.write(text)) await new Promise((resolve) => importer.stdin!.once('drain', resolve));
    };
    // A first record, written before the lock: the importer has opened the namespace's database (a write transaction).
    await send(headerLine({ at, source: 'embedded', firkin: 'test', namespaces: [{ name: 'sessions', sealed: false }] }));
    await send(recordLine('sessions', 'enwiki:MWSession:first', Buffer.from('first'), at + 600_000, at));
    const reader = new EmbeddedEngine({ path: data, readOnly: true });
    try {
      for (let i = 0; (await reader.store({ name: 'sessions' }).get('enwiki:MWSession:first')) === undefined; i++) {
        assert.ok(i < 600, 'the first record is imported');
        await sleep(50);
      }
    } finally {
      await reader.close();
    }
    // Another process holds LMDB's write lock until told to let go: every write of the importer waits, while it goes on reading.
    const holder = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const { open } = await import(process.argv[1]); const { readSync } = await import('node:fs'); const db = open({ path: process.argv[2], maxDbs: 256 });
         const wait = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
         db.transactionSync(() => {
           process.stdout.write('locked\\n');
           for (;;) { try { readSync(0, Buffer.alloc(1)); break; } catch (err) { if (err.code !== 'EAGAIN') throw err; wait(20); } }
         });
         await db.close();`,
        import.meta.resolve('lmdb'),
        join(data, 'firkin.mdb'),
      ],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    const held = finished(holder);
    holder.stdin!.on('error', () => undefined); // a holder already gone: its exit code says why, below
    await new Promise<void>((resolve, reject) => {
      holder.stdout!.on('data', (d: Buffer) => d.toString().includes('locked') && resolve());
      holder.on('close', (code) => reject(new Error(`the lock holder exited (${code})`)));
    });
    // What the importer takes from the pipe while it cannot write, and the memory it holds then.
    let sent = 0;
    let locked = true;
    let peak = 0;
    const sampler = setInterval(() => {
      if (locked) peak = Math.max(peak, rssAnon(importer.pid!) ?? 0);
    }, 20);
    const sending = (async () => {
      for (let i = 0; i < big; i++, sent++) await send(recordLine('sessions', `enwiki:MWSession:big-${i}`, Buffer.alloc(3 * 1024 * 1024, i), at + 600_000, at));
      await send(endLine(big + 1));
      importer.stdin!.end();
    })();
    // The importer has stopped reading once nothing more went through the pipe for 3 s (a fixed lock time
    // would also count a loaded machine's slowness); then the lock goes.
    for (let last = -1, since = Date.now(); Date.now() - since < 3000 && sent < big; ) {
      await sleep(100);
      if (sent !== last) [last, since] = [sent, Date.now()];
    }
    const sentWhileLocked = sent;
    locked = false;
    holder.stdin!.end('x');
    await sending;
    const [h, r] = await Promise.all([held, imported]);
    clearInterval(sampler);
    assert.equal(h.code, 0, h.stderr);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^namespace sessions: ${big + 1} added`, 'm'));
    // 5 records of 3 MiB in flight, the 6th read and waiting for room (the pipe holds less than one more): all 40 without the byte bound.
    assert.ok(sentWhileLocked >= 5 && sentWhileLocked <= 8, `the importer read ${sentWhileLocked} records of 3 MiB while its writes waited`);
    const MiB = 1024 * 1024;
    // Mostly the garbage of the lines read (each line, its text, its parse: about 15 MB a record): about 290 MiB without the bound.
    assert.ok(peak > 0 && peak < 200 * MiB, `the import held at most ${Math.round(peak / MiB)} MiB of its own while its writes waited`);
  });
});

describe('firkin backup', () => {
  it('copies a live store under write load; a server started on the copy serves every session written before', { timeout: 120_000 }, async () => {
    const a = await embeddedServer();
    const before = Array.from({ length: 300 }, (_, i) => `enwiki:MWSession:backup-${i}-${randomBytes(6).toString('hex')}`);
    for (const k of before) await put(a.at('sessions', k), `before ${k}`, 3600);
    const load = writeLoad(a, 'enwiki:MWSession:during-backup');
    await sleep(200);
    const copy = join(tempDir(), 'backup');
    const r = await firkinAsync(['backup', '--config', a.config, copy]);
    const during = await load.stop();
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^backup: .*backup\/firkin\.mdb: \d+ bytes \(the store's file: \d+\), format 2, namespaces forever, sessions, a consistent copy as of/);
    assert.equal(statSync(copy).mode & 0o777, 0o700);
    assert.equal(statSync(join(copy, 'firkin.mdb')).mode & 0o777, 0o600);
    assert.ok(during.length > 0, 'the store took writes during the backup');

    const again = await firkinAsync(['backup', '--config', a.config, copy]);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /firkin\.mdb exists: a backup never overwrites a store/);

    const checkConfig = join(copy, '..', 'check.yaml');
    writeFileSync(checkConfig, stringify({ embedded: { path: copy }, namespaces: NAMESPACES }));
    const check = runFirkin('store', 'check', '--config', checkConfig);
    assert.equal(check.code, 0, check.stdout + check.stderr);

    const restored = await embeddedServer({ embedded: { path: copy } });
    for (const k of before) assert.equal((await request(restored.at('sessions', k))).body.toString(), `before ${k}`);
    // Written during the backup: each one whole, or not in the copy; never damaged.
    let inCopy = 0;
    for (const k of during) {
      const got = await request(restored.at('sessions', k));
      assert.ok(got.status === 200 || got.status === 404, `status ${got.status}`);
      if (got.status === 200) {
        assert.equal(got.body.toString(), `load ${k}`);
        inCopy++;
      }
    }
    assert.ok(inCopy > 0, 'the copy holds the writes made before it started');
  });

  it("leaves an existing DIR's mode as it is, and nothing but firkin.mdb in it; never replaces a firkin.mdb that appears in DIR meanwhile (exit 2)", { timeout: 120_000 }, async () => {
    // A store that takes a moment to copy: 4000 sessions of 8 KiB.
    const dir = tempDir();
    const engine = new EmbeddedEngine({ path: join(dir, 'data') });
    const store = engine.store({ name: 'sessions' });
    for (let i = 0; i < 4000; i += 500) await Promise.all(Array.from({ length: 500 }, (_, j) => store.set(`enwiki:MWSession:copy-${i + j}`, randomBytes(8192), 3600)));
    await engine.close();
    const config = join(dir, 'config.yaml');
    writeFileSync(config, stringify({ embedded: { path: join(dir, 'data') }, namespaces: NAMESPACES }));

    // An existing directory, shared with a group: the backup changes nothing of it, and leaves only its file.
    const shared = join(tempDir(), 'shared');
    mkdirSync(shared, { mode: 0o750 });
    chmodSync(shared, 0o750);
    const r = await firkinAsync(['backup', '--config', config, shared]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(statSync(shared).mode & 0o777, 0o750, "an existing DIR's mode is left as it is");
    assert.equal(statSync(join(shared, 'firkin.mdb')).mode & 0o777, 0o600);
    assert.deepEqual(readdirSync(shared), ['firkin.mdb'], 'nothing else left in DIR');

    // A firkin.mdb that appears in DIR once the backup has begun writing there: kept, never replaced.
    const racing = join(tempDir(), 'racing');
    mkdirSync(racing, { mode: 0o700 });
    let planted = false;
    const watcher = watch(racing, () => {
      if (planted) return;
      planted = true;
      writeFileSync(join(racing, 'firkin.mdb'), 'planted meanwhile');
    });
    const raced = await firkinAsync(['backup', '--config', config, racing]);
    watcher.close();
    assert.ok(planted, 'the backup wrote in DIR');
    assert.equal(readFileSync(join(racing, 'firkin.mdb'), 'utf8'), 'planted meanwhile', 'the file that appeared is kept');
    assert.equal(raced.code, 2, raced.stderr);
    assert.match(raced.stderr, /firkin\.mdb appeared during the backup: a backup never overwrites a store/);
    assert.deepEqual(readdirSync(racing), ['firkin.mdb'], 'the copy removed');
  });

  it('refuses a Cassandra config, naming nodetool snapshot', () => {
    const dir = tempDir();
    const config = join(dir, 'cassandra.yaml');
    writeFileSync(config, stringify({ storage: 'cassandra', cassandra: { hosts: ['127.0.0.1'], keyspace: 'sessions' } }));
    const r = runFirkin('backup', '--config', config, join(dir, 'backup'));
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^firkin: backup copies the embedded store; .* uses Cassandra: take a snapshot on every node with `nodetool snapshot -t <name> sessions`/);
  });
});
