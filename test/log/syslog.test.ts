/**
 * Log lines to syslog: RFC 5424 framing, JSON payload, over UDP, TCP (octet
 * counting) and a local Unix datagram socket (as /dev/log is), received by
 * in-test listeners and by a real rsyslogd; SIGHUP re-opens the destination
 * without losing a line, also while a server name is being resolved.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { createSyslogSink, neverThrows, type LogSink } from '../../src/log/syslog.js';
import { formatRfc5424, priority, syslogIdentity } from '../../src/log/syslog-format.js';
import { request } from '../helpers/http.js';
import { spawnFirkin } from '../helpers/process.js';
import { scrape } from '../helpers/prometheus.js';
import { startRsyslog, type Rsyslog } from '../helpers/rsyslog.js';
import { atFileEnd, tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.js';

/** `<PRI>1 TIMESTAMP HOST APP PROCID MSGID SD MSG` */
const RFC5424 = /^<(\d{1,3})>1 (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)) (\S+) (\S+) (\d+) (\S+) (-|\[.*?\]) (\{.*\})$/;

interface Received {
  readonly pri: number;
  readonly app: string;
  readonly procId: number;
  readonly json: Record<string, unknown>;
}

function parse(message: string): Received {
  const m = RFC5424.exec(message);
  assert.ok(m, `not RFC 5424: ${message}`);
  return { pri: Number(m[1]), app: m[4]!, procId: Number(m[5]), json: JSON.parse(m[8]!) as Record<string, unknown> };
}

/** Resolves with the "listening" line's URL once it arrives. */
function urlFrom(messages: Received[] | (() => Received[])): Promise<string> {
  return new Promise((resolve) => {
    const timer = setInterval(() => {
      const listening = (typeof messages === 'function' ? messages() : messages).find((m) => m.json.msg === 'listening');
      if (listening) {
        clearInterval(timer);
        resolve(String(listening.json.url));
      }
    }, 20);
    timer.unref();
  });
}

async function exercise(url: string): Promise<void> {
  assert.equal((await request(`${url}/sessions/v1/k`, { method: 'POST', body: 'v' })).status, 201);
  assert.equal((await request(`${url}/sessions/v1/k`)).status, 200);
}

function checkLines(received: Received[], facility: number, pid: number, app = 'sessionstore'): void {
  assert.ok(received.length >= 4, `only ${received.length} lines`);
  for (const r of received) {
    assert.equal(r.app, app);
    assert.equal(r.procId, pid);
    assert.equal(r.json.pid, pid, 'pid on every line');
    assert.equal(r.json.appname, app);
    for (const field of ['msg', 'time', 'level']) assert.ok(field in r.json, `${field} missing`);
    const severity = { DEBUG: 7, INFO: 6, WARNING: 4, ERROR: 3, FATAL: 2 }[String(r.json.level)];
    assert.equal(r.pri, facility * 8 + severity!, `PRI of a ${String(r.json.level)} line`);
  }
  const request = received.find((r) => r.json.msg === 'request');
  assert.ok(request, 'debug request lines arrive');
  for (const field of ['request_id', 'method', 'status', 'namespace', 'engine', 'duration_ms']) assert.ok(field in request.json);
}

describe('syslog', () => {
  it('frames a JSON line as RFC 5424 with the level as severity', () => {
    const id = syslogIdentity('firkin');
    const line = '{"level":"ERROR","msg":"x"}\n';
    const message = formatRfc5424(line, 'local0', id, new Date('2026-11-25T10:00:00.000Z'));
    assert.equal(message, `<131>1 2026-11-25T10:00:00.000Z ${id.hostname} firkin ${process.pid} - - {"level":"ERROR","msg":"x"}`);
    assert.equal(priority('{"level":"INFO"}', 'daemon'), 30);
    assert.equal(priority('{"level":"DEBUG"}', 'user'), 15);
    assert.equal(syslogIdentity('my service').appName, 'my_service');
  });

  it('sends lines over UDP', async () => {
    const server = createSocket('udp4');
    const received: Received[] = [];
    server.on('message', (msg) => received.push(parse(msg.toString('utf8'))));
    await new Promise<void>((r) => server.bind(0, '127.0.0.1', r));
    atFileEnd(() => server.close());
    const port = server.address().port;
    const f = await spawnFirkin(
      tempDir(),
      { service_name: 'sessionstore', log_level: 'debug', embedded: { path: 'data' }, log: { syslog: { host: '127.0.0.1', port, protocol: 'udp', facility: 'local3' } } },
      { url: urlFrom(received) },
    );
    await exercise(f.url);
    await until(() => received.filter((r) => r.json.msg === 'request').length >= 2, 'request lines');
    f.child.kill('SIGTERM');
    assert.equal(await f.exited, 0);
    assert.deepEqual(f.stdout, [], 'nothing on stdout, start to exit');
    await until(() => received.some((r) => r.json.msg === 'stopped'), 'the stopped line (logs flushed at exit)');
    checkLines(received, 19, f.child.pid!);
  });

  it('sends UDP lines written while the socket is still connecting', async () => {
    const server = createSocket('udp4');
    const received: Received[] = [];
    server.on('message', (msg) => received.push(parse(msg.toString('utf8'))));
    await new Promise<void>((r) => server.bind(0, '127.0.0.1', r));
    atFileEnd(() => server.close());
    let dropped = 0;
    const sink = createSyslogSink(
      { kind: 'syslog-server', host: '127.0.0.1', port: server.address().port, protocol: 'udp', facility: 'user' },
      'sessionstore',
      () => dropped++,
    );
    // At once, as start-up does: Node's dgram would throw on a send before the connect completes.
    sink.write('{"level":"WARNING","msg":"first"}\n');
    sink.write('{"level":"INFO","msg":"second"}\n');
    await until(() => received.length === 2, 'both lines');
    assert.deepEqual(received.map((r) => r.json.msg), ['first', 'second']);
    assert.equal(dropped, 0);
    await sink.end();
  });

  it('keeps UDP lines written while a name resolves and across re-opens in a row, in order', async () => {
    // Dual-stack: "localhost" may resolve to 127.0.0.1 or ::1.
    const server = createSocket({ type: 'udp6', ipv6Only: false });
    const received: Received[] = [];
    server.on('message', (msg) => received.push(parse(msg.toString('utf8'))));
    await new Promise<void>((r) => server.bind(0, '::', r));
    atFileEnd(() => server.close());
    let dropped = 0;
    const sink = createSyslogSink(
      { kind: 'syslog-server', host: 'localhost', port: server.address().port, protocol: 'udp', facility: 'user' },
      'sessionstore',
      () => dropped++,
    );
    sink.write('{"level":"INFO","msg":"during the lookup"}\n');
    sink.reopen();
    sink.write('{"level":"INFO","msg":"after a re-open"}\n');
    sink.reopen();
    sink.write('{"level":"INFO","msg":"after another"}\n');
    await until(() => received.length === 3, 'all three lines');
    sink.reopen(); // of a connected socket, this time
    sink.write('{"level":"INFO","msg":"on the new socket"}\n');
    await until(() => received.length === 4, 'the fourth line');
    assert.deepEqual(received.map((r) => r.json.msg), ['during the lookup', 'after a re-open', 'after another', 'on the new socket']);
    assert.equal(dropped, 0);
    await sink.end();
  });

  it('counts lines for a name that never resolves as dropped at the end, without throwing', async () => {
    let dropped = 0;
    const sink = createSyslogSink(
      { kind: 'syslog-server', host: 'no-such-host.invalid', port: 514, protocol: 'udp', facility: 'user' },
      'sessionstore',
      () => dropped++,
    );
    sink.write('{"level":"INFO","msg":"one"}\n');
    sink.write('{"level":"FATAL","msg":"two"}\n');
    assert.equal(dropped, 0, 'waiting, not dropped, while the name is retried');
    await sink.end(300);
    assert.equal(dropped, 2);
    sink.write('{"level":"FATAL","msg":"after the end"}\n');
    assert.equal(dropped, 3);
  });

  it('never throws from a sink: the crash handler writes its FATAL line through it', async () => {
    let dropped = 0;
    const broken: LogSink = {
      write: () => {
        throw new Error('ERR_SOCKET_BAD_PORT');
      },
      reopen: () => {
        throw new Error('cannot re-open');
      },
      end: () => Promise.reject(new Error('cannot close')),
    };
    const sink = neverThrows(broken, () => dropped++);
    sink.write('{"level":"FATAL","msg":"uncaught exception"}\n');
    sink.reopen();
    await sink.end(10);
    assert.equal(dropped, 1, 'the line is counted as dropped');
  });

  it('sends lines over TCP with octet counting, and reconnects on SIGHUP', async () => {
    const received: Received[] = [];
    const connections: Socket[] = [];
    const server = createServer((socket) => {
      connections.push(socket);
      let buffer = Buffer.alloc(0);
      socket.on('data', (chunk: Buffer) => {
        buffer = Buffer.concat([buffer, chunk]);
        for (;;) {
          const space = buffer.indexOf(0x20);
          if (space < 0) return;
          const length = Number(buffer.subarray(0, space).toString('ascii'));
          assert.ok(Number.isInteger(length) && length > 0, 'octet-counted frame');
          if (buffer.length < space + 1 + length) return;
          received.push(parse(buffer.subarray(space + 1, space + 1 + length).toString('utf8')));
          buffer = buffer.subarray(space + 1 + length);
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    atFileEnd(() => server.close());
    const port = (server.address() as { port: number }).port;
    const f = await spawnFirkin(
      tempDir(),
      { service_name: 'sessionstore', log_level: 'debug', embedded: { path: 'data' }, log: { syslog: { host: '127.0.0.1', port, protocol: 'tcp' } } },
      { url: urlFrom(received) },
    );
    await exercise(f.url);
    assert.equal(connections.length, 1);
    f.child.kill('SIGHUP');
    await until(() => connections.length === 2, 'a new connection after SIGHUP');
    await until(() => received.some((r) => r.json.msg === 'log destination re-opened'), 'the re-opened line');
    await exercise(f.url);
    f.child.kill('SIGTERM');
    assert.equal(await f.exited, 0);
    await until(() => received.some((r) => r.json.msg === 'stopped'), 'the stopped line');
    checkLines(received, 3, f.child.pid!);
  });

  it('sends lines to a local Unix datagram socket, as rsyslog and journald listen on /dev/log', async () => {
    const dir = tempDir();
    const socketPath = join(dir, 'log.sock');
    // Node cannot bind a Unix datagram socket; Python's standard library can.
    const listener = spawn('python3', [
      '-u',
      '-c',
      'import socket,sys,json\ns=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)\ns.bind(sys.argv[1])\nprint("ready")\nwhile True:\n  print(json.dumps(s.recv(65536).decode()))',
      socketPath,
    ]);
    atFileEnd(() => listener.kill());
    const received: Received[] = [];
    let partial = '';
    let ready = false;
    listener.stdout.on('data', (chunk: Buffer) => {
      partial += chunk.toString('utf8');
      const lines = partial.split('\n');
      partial = lines.pop()!;
      for (const line of lines) {
        if (line === 'ready') ready = true;
        else received.push(parse(JSON.parse(line) as string));
      }
    });
    await until(() => ready, 'the Python listener');
    const f = await spawnFirkin(
      dir,
      { service_name: 'sessionstore', log_level: 'debug', embedded: { path: 'data' }, log: { syslog: { path: socketPath, facility: 'local7' } } },
      { url: urlFrom(received) },
    );
    await exercise(f.url);
    f.child.kill('SIGTERM');
    assert.equal(await f.exited, 0);
    await until(() => received.some((r) => r.json.msg === 'stopped'), 'the stopped line');
    checkLines(received, 23, f.child.pid!);
  });

  describe('to a real rsyslogd', () => {
    let rsyslog: Rsyslog;
    before(async () => {
      rsyslog = await startRsyslog();
    });

    /**
     * A real `firkin serve` logging to rsyslogd: SIGHUP re-opens the destination and
     * the process keeps serving; every line before and after (listening, the re-open
     * line, each request, stopped) arrives, parsed by rsyslog as RFC 5424; none dropped.
     */
    async function acrossSighup(host: string, protocol: 'udp' | 'tcp'): Promise<void> {
      const app = `firkin-${protocol}-${host.replace(/[^a-z0-9]/g, '-')}`;
      const received = (): Received[] =>
        rsyslog
          .messages()
          .filter((m) => m.app === app)
          .map((m) => {
            assert.equal(m.version, '1', 'rsyslog parsed it as RFC 5424');
            return { pri: m.pri, app: m.app, procId: Number(m.procId), json: JSON.parse(m.msg) as Record<string, unknown> };
          });
      const messages = (): unknown[] => received().map((r) => r.json.msg);
      const port = protocol === 'udp' ? rsyslog.udpPort : rsyslog.tcpPort;
      const f = await spawnFirkin(
        tempDir(),
        { service_name: app, log_level: 'debug', embedded: { path: 'data' }, log: { syslog: { host, port, protocol, facility: 'local4' } } },
        { url: urlFrom(received) },
      );
      const traced = async (tag: string): Promise<void> => {
        const headers = (id: string) => ({ 'x-request-id': `${tag}-${id}` });
        assert.equal((await request(`${f.url}/sessions/v1/k`, { method: 'POST', body: 'v', headers: headers('post') })).status, 201);
        assert.equal((await request(`${f.url}/sessions/v1/k`, { headers: headers('get') })).status, 200);
      };
      await traced('before');
      f.child.kill('SIGHUP');
      await until(() => messages().includes('log destination re-opened'), 'the re-opened line at rsyslogd');
      await traced('after');
      assert.equal(f.child.exitCode, null, 'SIGHUP did not stop the service');
      assert.equal((await scrape(f.url)).value('firkin_log_lines_dropped_total'), 0, 'no line dropped');
      f.child.kill('SIGTERM');
      assert.equal(await f.exited, 0);
      await until(() => messages().includes('stopped'), 'the stopped line');
      const all = received();
      for (const msg of ['listening', 'log destination re-opened', 'stopping: draining in-flight requests', 'stopped']) {
        assert.ok(messages().includes(msg), `"${msg}" arrived`);
      }
      const ids = all.filter((r) => r.json.msg === 'request').map((r) => r.json.request_id);
      for (const id of ['before-post', 'before-get', 'after-post', 'after-get']) assert.ok(ids.includes(id), `request ${id} logged`);
      assert.deepEqual(f.stdout, [], 'nothing on stdout');
      checkLines(all, 20, f.child.pid!, app);
    }

    it('over UDP to 127.0.0.1', () => acrossSighup('127.0.0.1', 'udp'));
    it('over UDP to localhost (a name to resolve)', () => acrossSighup('localhost', 'udp'));
    it('over TCP to localhost', () => acrossSighup('localhost', 'tcp'));
  });
});
