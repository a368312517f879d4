/**
 * src/base/internals.ts: each workaround on a dependency's private internals, checked
 * against the dependency as installed. A test here fails when the dependency no
 * longer behaves as the workaround relies on (or is no longer the version it was
 * written against): read base/internals.ts again before changing the pin.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import cassandra from 'cassandra-driver';
import { AggregatorRegistry, Registry } from 'prom-client';
import { z } from 'zod';
import {
  answerHalfClosedClients,
  commitFailure,
  handshakeDone,
  lmdbCode,
  lmdbMeta,
  lmdbStats,
  LMDB_LAYOUT,
  lockFile,
  openExistingDb,
  holdPaused,
  pausedByHttp,
  registerCustomMetric,
  releaseHold,
  RELIED_ON,
  timestampGeneratorBase,
  zodDefinition,
} from '../../src/base/internals.js';
import { numberRange } from '../../src/config/messages.js';
import { EvenTimestampGenerator } from '../../src/storage/cassandra/timestamps.js';
import { TestCa } from '../helpers/pki.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const installed = (pkg: string): string => (JSON.parse(readFileSync(join(ROOT, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string }).version;

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

const closed = (server: Server): Promise<void> =>
  new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });

describe('base/internals.ts: the dependencies as relied upon', () => {
  it('runs on the versions the workarounds were written against (package.json pins the same)', () => {
    const pinned = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }).dependencies;
    for (const pkg of ['cassandra-driver', 'prom-client', 'lmdb', 'zod'] as const) {
      assert.equal(installed(pkg), RELIED_ON[pkg], `${pkg} is installed at ${installed(pkg)}: check its workaround in base/internals.ts, then update RELIED_ON`);
      assert.equal(pinned[pkg], RELIED_ON[pkg], `package.json pins ${pkg} at ${pinned[pkg]}`);
    }
    const major = Number(process.versions.node.split('.')[0]);
    assert.ok((RELIED_ON.node as readonly number[]).includes(major), `Node.js ${process.version}: check the node:http and node:tls workarounds, then add ${major}`);
  });

  describe('node:http', () => {
    it('resumes a paused socket itself once it has answered (so the lanes hold sockets with holdPaused), and holdPaused holds', async () => {
      const seen: { plain?: boolean; held?: boolean; released?: boolean } = {};
      const server = createServer((req, res) => {
        const socket = req.socket;
        const mode = req.url === '/held' ? 'held' : 'plain';
        if (mode === 'held') holdPaused(socket);
        else socket.pause();
        res.end('ok', () =>
          setImmediate(() => {
            seen[mode] = socket.isPaused();
            if (mode === 'held') {
              releaseHold(socket);
              seen.released = socket.isPaused();
            }
          }),
        );
      });
      const port = await listen(server);
      try {
        for (const path of ['/plain', '/held']) {
          const socket = connect(port, '127.0.0.1');
          socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
          socket.resume();
          await until(() => (path === '/plain' ? seen.plain : seen.released) !== undefined, `the ${path} answer`);
          socket.destroy();
        }
        assert.equal(seen.plain, false, 'node:http resumed the plainly paused socket itself');
        assert.equal(seen.held, true, 'the held socket stayed paused');
        assert.equal(seen.released, false, 'releaseHold reads on');
      } finally {
        await closed(server);
      }
    });

    it('marks a socket it paused for a client that does not read (`_paused`), which pausedByHttp reads', async () => {
      const big = Buffer.alloc(32 * 1024 * 1024, 0x61);
      let pausedSeen = false;
      const server = createServer((req, res) => {
        res.end(big);
        // The next pipelined request is parsed while this answer cannot leave: node:http pauses the socket.
        setImmediate(() => (pausedSeen ||= pausedByHttp(req.socket)));
      });
      const port = await listen(server);
      const client = connect(port, '127.0.0.1');
      try {
        client.pause(); // never reads
        client.write('GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\nGET /3 HTTP/1.1\r\nHost: x\r\n\r\n');
        await until(() => pausedSeen, 'node:http to pause the socket of a client that does not read', 5000);
        assert.equal(pausedSeen, true);
      } finally {
        client.destroy();
        await closed(server);
      }
    });

    it('abandons a half-closed client\u2019s request unless httpAllowHalfOpen is set (answerHalfClosedClients)', async () => {
      const answered = async (allow: boolean): Promise<boolean> => {
        const server = createServer((_req, res) => setTimeout(() => res.end('answer'), 50));
        assert.equal((server as Server & { httpAllowHalfOpen?: boolean }).httpAllowHalfOpen, false, 'the property exists, off by default');
        if (allow) answerHalfClosedClients(server);
        const port = await listen(server);
        try {
          return await new Promise<boolean>((resolve) => {
            const socket: Socket = connect(port, '127.0.0.1', () => socket.end('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
            let text = '';
            socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
            socket.on('close', () => resolve(text.includes('answer')));
            socket.on('error', () => resolve(false));
          });
        } finally {
          await closed(server);
        }
      };
      assert.equal(await answered(false), false, 'node:http drops the request of a client that half-closed');
      assert.equal(await answered(true), true, 'with the workaround, it is answered');
    });
  });

  describe('node:tls', () => {
    it('sets `_secureEstablished` on a server socket once the handshake is done (handshakeDone)', async () => {
      const ca = new TestCa();
      const pair = ca.server();
      const states: boolean[] = [];
      const server = createHttpsServer({ cert: readFileSync(pair.cert), key: readFileSync(pair.key) }, (_req, res) => res.end());
      server.on('connection', (socket: Socket) => states.push(handshakeDone(socket)));
      server.on('secureConnection', (socket) => states.push(handshakeDone(socket)));
      const port = await listen(server);
      try {
        await new Promise<void>((resolve, reject) => {
          const socket = tlsConnect({ port, host: '127.0.0.1', ca: readFileSync(ca.cert), servername: 'localhost' }, () => {
            socket.end();
            resolve();
          });
          socket.on('error', reject);
        });
        await until(() => states.length >= 2, 'the handshake');
        assert.deepEqual(states, [false, true], 'false on the raw connection, true once secure');
      } finally {
        await closed(server);
      }
    });
  });

  describe('cassandra-driver', () => {
    it('has the internals shutDownReplacedHost and closeDriverLeftovers use', async () => {
      const client = new cassandra.Client({ contactPoints: ['127.0.0.1'], localDataCenter: 'dc1' });
      try {
        const internals = client as unknown as { controlConnection: Record<string, unknown>; hosts: { values(): unknown[] } };
        assert.equal(typeof internals.hosts.values, 'function', 'client.hosts.values()');
        assert.ok('controlConnection' in client && typeof internals.controlConnection === 'object', 'client.controlConnection');
        const source = readFileSync(join(ROOT, 'node_modules/cassandra-driver/lib/control-connection.js'), 'utf8');
        assert.match(source, /this\.connection = null;/, 'controlConnection.connection');
        assert.match(readFileSync(join(ROOT, 'node_modules/cassandra-driver/lib/connection.js'), 'utf8'), /this\.isSocketOpen = true;/, 'connection.isSocketOpen');
        const { Host } = (await import('cassandra-driver/lib/host.js' as string)) as { Host: new (...args: unknown[]) => Record<string, unknown> };
        const host = new Host('127.0.0.1:9042', 4, (client as unknown as { options: unknown }).options, client.metadata);
        assert.equal(typeof host.shutdown, 'function', 'host.shutdown()');
        assert.ok('_healthResponseCountTimer' in host, 'host._healthResponseCountTimer');
        const pool = host.pool as Record<string, unknown>;
        assert.equal(typeof pool.clearNewConnectionAttempt, 'function', 'pool.clearNewConnectionAttempt()');
        assert.ok(Array.isArray(pool.connections), 'pool.connections');
        assert.equal(typeof pool.shutdown, 'function', 'pool.shutdown()');
      } finally {
        await client.shutdown();
      }
    });

    it('checks a timestamp generator with instanceof against the class its typings do not declare', () => {
      const Base = timestampGeneratorBase<object>(cassandra);
      assert.equal(typeof Base, 'function');
      assert.ok(new EvenTimestampGenerator() instanceof Base);
      // The driver refuses anything else.
      assert.throws(() => new cassandra.Client({ contactPoints: ['x'], localDataCenter: 'dc1', policies: { timestampGeneration: { next: () => 1 } as never } }));
      assert.doesNotThrow(() => new cassandra.Client({ contactPoints: ['x'], localDataCenter: 'dc1', policies: { timestampGeneration: new EvenTimestampGenerator() } }));
    });
  });

  describe('prom-client', () => {
    it('exports and aggregates a metric of our own registered through its metric protocol', async () => {
      const registry = new Registry();
      const metric = {
        name: 'firkin_internals_check_total',
        help: 'A check.',
        type: 'counter',
        aggregator: 'sum',
        get: () => ({ name: 'firkin_internals_check_total', help: 'A check.', type: 'counter', values: [{ value: 3, labels: { a: 'b' } }], aggregator: 'sum' }),
        reset: () => undefined,
      };
      registerCustomMetric(registry, metric);
      assert.match(await registry.metrics(), /^firkin_internals_check_total\{a="b"\} 3$/m);
      const json = await registry.getMetricsAsJSON();
      const aggregated = await AggregatorRegistry.aggregate([json, json]).metrics();
      assert.match(aggregated, /^firkin_internals_check_total\{a="b"\} 6$/m, 'summed across workers');
    });
  });

  describe('lmdb', () => {
    it('rejects a failed commit with "Commit failed" and the cause, with LMDB\u2019s code, on `commitError` (commitFailure)', () => {
      // A file-size limit makes the commit fail without root; SIGXFSZ ignored, as test/helpers/process.ts does.
      const dir = tempDir();
      const script = `
        import { open } from 'lmdb';
        import { commitFailure, lmdbCode } from ${JSON.stringify(join(ROOT, 'dist/src/base/internals.js'))};
        const db = open({ path: ${JSON.stringify(join(dir, 'x.mdb'))} });
        try {
          for (let i = 0; i < 1000; i++) await db.put('k' + i, Buffer.alloc(64 * 1024, 1));
          console.log('no failure');
        } catch (err) {
          const cause = await commitFailure(err);
          console.log(JSON.stringify({ outer: lmdbCode(err) ?? null, inner: lmdbCode(cause) ?? null }));
        }
        process.exit(0);`;
      const run = spawnSync('bash', ['-c', `trap '' XFSZ; ulimit -f 2048; exec "$0" --input-type=module -e "$1"`, process.execPath, script], {
        cwd: ROOT,
        encoding: 'utf8',
        timeout: 60_000,
      });
      assert.equal(run.status, 0, run.stderr);
      const seen = JSON.parse(run.stdout.trim()) as { outer: number | null; inner: number | null };
      assert.equal(seen.outer, null, 'the rejection itself carries no code');
      assert.equal(typeof seen.inner, 'number', `the commit's own error carries LMDB's code: ${run.stdout}`);
    });

    it('puts LMDB\u2019s code on its errors, and the statistics the size bound reads on getStats()', async () => {
      const { open } = await import('lmdb');
      const root = open({ path: join(tempDir(), 'stats.mdb'), maxDbs: 4 });
      try {
        const db = root.openDB<string, string>({ name: 'x' });
        await db.put('k', 'v');
        // More named databases than maxDbs: LMDB's MDB_DBS_FULL.
        let code: number | undefined;
        try {
          for (const name of ['a', 'b', 'c', 'd', 'e']) root.openDB({ name });
        } catch (err) {
          code = lmdbCode(err);
        }
        assert.equal(code, -30791, 'MDB_DBS_FULL, as a number on `code`');
        for (const stats of [lmdbStats(root), lmdbStats(db)]) {
          for (const field of ['pageSize', 'entryCount', 'treeBranchPageCount', 'treeLeafPageCount', 'overflowPages'] as const) {
            assert.equal(typeof stats[field], 'number', field);
          }
        }
        assert.equal(typeof lmdbStats(root).free?.treeLeafPageCount, 'number', "the root's free-page list");
        assert.equal(await commitFailure(new Error('no commit')), undefined);
      } finally {
        await root.close();
      }
    });
  });

  describe('lmdb: the data file and read-only handles', () => {
    it('answers undefined from openDB for a database a read-only environment lacks (openExistingDb)', async () => {
      const { open } = await import('lmdb');
      const path = join(tempDir(), 'ro.mdb');
      const writer = open({ path, maxDbs: 4 });
      writer.openDB({ name: 'present' }).putSync('k', 'v');
      await writer.close();
      const root = open({ path, maxDbs: 4, readOnly: true });
      try {
        assert.equal(openExistingDb(root, { name: 'absent' }), undefined);
        assert.equal(openExistingDb<{ get(k: string): unknown }>(root, { name: 'present' })?.get('k'), 'v');
      } finally {
        await root.close();
      }
    });

    it('lays out its two meta pages as LMDB_LAYOUT and lmdbMeta say (magic, version, page size, roots, last page, txnid)', async () => {
      const { open } = await import('lmdb');
      const path = join(tempDir(), 'meta.mdb');
      const root = open({ path, maxDbs: 4 });
      const db = root.openDB({ name: 'x' });
      for (let i = 0; i < 50; i++) await db.put(`k${i}`, Buffer.alloc(3000, i));
      const pageSize = lmdbStats(root).pageSize;
      await root.close();
      const file = readFileSync(path);
      const metas = [lmdbMeta(file.subarray(0, LMDB_LAYOUT.metaBytes)), lmdbMeta(file.subarray(pageSize, pageSize + LMDB_LAYOUT.metaBytes))];
      for (const meta of metas) {
        assert.ok(meta.flags & LMDB_LAYOUT.metaFlag, 'P_META');
        assert.equal(meta.magic, LMDB_LAYOUT.magic);
        assert.equal(meta.version, LMDB_LAYOUT.dataVersion);
        assert.equal(meta.pageSize, pageSize);
        for (const r of [meta.mainRoot, meta.freeRoot]) assert.ok(r === LMDB_LAYOUT.noPage || (r >= 2n && r <= meta.lastPage), `root ${r}`);
      }
      assert.notEqual(metas[0]!.txnid, metas[1]!.txnid, 'each commit writes the other page');
      const newest = metas[0]!.txnid > metas[1]!.txnid ? metas[0]! : metas[1]!;
      assert.equal(file.length, (Number(newest.lastPage) + 1) * pageSize, 'the file ends with the last page of the newest snapshot');
      assert.equal(newest.mainRoot !== LMDB_LAYOUT.noPage, true, 'the main tree holds the named database');
    });
  });

  describe('node:sqlite', () => {
    it('holds an exclusive lock that another process cannot take, until the holder is killed (lockFile)', async () => {
      const file = join(tempDir(), 'lock');
      const script = `
        import { lockFile } from ${JSON.stringify(join(ROOT, 'dist/src/base/internals.js'))};
        console.log(lockFile(${JSON.stringify(file)}) === undefined ? 'refused' : 'held');
        setInterval(() => {}, 1000);`;
      const { spawn } = await import('node:child_process');
      const holder = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
      const said = await new Promise<string>((resolve) => holder.stdout.once('data', (d: Buffer) => resolve(d.toString().trim())));
      assert.equal(said, 'held');
      assert.equal(lockFile(file), undefined, 'refused at once while another process holds it');
      holder.kill('SIGKILL');
      await new Promise((r) => holder.once('exit', r));
      const mine = lockFile(file);
      assert.ok(mine, 'the kernel released it with the process');
      assert.equal(lockFile(file), undefined, 'a second lock in the same process is refused too');
      mine.release();
      const again = lockFile(file);
      assert.ok(again, 'released');
      again.release();
      assert.equal(readFileSync(file).length, 0, 'nothing written: the file stays empty');
    });
  });

  describe('zod', () => {
    it('exposes a number schema\u2019s bounds through `_zod.def` (zodDefinition)', () => {
      const schema = z.int().min(1).max(65535);
      const def = zodDefinition(schema);
      assert.equal(def?.type, 'number');
      assert.deepEqual(numberRange(schema), { whole: true, min: 1, minInclusive: true, max: 65535, maxInclusive: true });
      assert.equal(zodDefinition(z.string())?.type, 'string');
    });
  });
});
