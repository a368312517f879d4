/**
 * Log lines to syslog: RFC 5424 framing, JSON payload, over UDP, TCP (octet
 * counting) and a local Unix datagram socket (as /dev/log is), received by real
 * listeners; SIGHUP re-opens the destination.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createSyslogSink, formatRfc5424, priority, syslogIdentity } from '../../src/log/syslog.js';
import { request } from '../helpers/http.js';
import { spawnFirkin } from '../helpers/process.js';
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
function urlFrom(messages: Received[]): Promise<string> {
  return new Promise((resolve) => {
    const timer = setInterval(() => {
      const listening = messages.find((m) => m.json.msg === 'listening');
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

function checkLines(received: Received[], facility: number, pid: number): void {
  assert.ok(received.length >= 4, `only ${received.length} lines`);
  for (const r of received) {
    assert.equal(r.app, 'sessionstore');
    assert.equal(r.procId, pid);
    assert.equal(r.json.appname, 'sessionstore');
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
});
