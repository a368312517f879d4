/**
 * A real syslog daemon for the tests: Debian's rsyslogd, run in the foreground on
 * a scratch config (UDP and TCP inputs on free ports, every message written to a
 * file in a temp dir), nothing system-wide. Stopped when the test file ends.
 * The rsyslogd is the first on PATH (where `npm test` puts the one it provisioned
 * when the machine has none: scripts/prerequisites.mjs), else /usr/sbin/rsyslogd
 * (not on a non-root user's PATH).
 */
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { accessSync, constants, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { delimiter, join } from 'node:path';
import { atFileEnd, tempDir } from './tmp.js';
import { until } from './wait.js';

/** One message as rsyslog parsed it. */
export interface RsyslogMessage {
  readonly pri: number;
  /** "1" when rsyslog parsed the message as RFC 5424. */
  readonly version: string;
  readonly app: string;
  readonly procId: string;
  /** The MSG part: Firkin's JSON line. */
  readonly msg: string;
}

export interface Rsyslog {
  readonly udpPort: number;
  readonly tcpPort: number;
  /** Everything rsyslog has written out so far. */
  messages(): RsyslogMessage[];
}

/** The rsyslogd to run, or undefined if there is none. */
function findRsyslogd(): string | undefined {
  const candidates = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean).map((dir) => join(dir, 'rsyslogd')), '/usr/sbin/rsyslogd'];
  return candidates.find((file) => {
    try {
      accessSync(file, constants.X_OK);
      return statSync(file).isFile();
    } catch {
      return false;
    }
  });
}

/** A UDP port nobody is bound to now (imudp cannot be given port 0). */
async function freeUdpPort(): Promise<number> {
  const probe = createSocket('udp4');
  await new Promise<void>((resolve) => probe.bind(0, resolve));
  const { port } = probe.address();
  await new Promise<void>((resolve) => probe.close(resolve));
  return port;
}

export async function startRsyslog(): Promise<Rsyslog> {
  // Before anything is started or opened: a test file without rsyslogd fails here and ends.
  const rsyslogd = findRsyslogd();
  if (rsyslogd === undefined) {
    throw new Error('no rsyslogd on PATH nor at /usr/sbin/rsyslogd: run the tests with `npm test` (it provisions one), or apt-get install rsyslog');
  }
  const dir = tempDir('firkin-rsyslog-');
  const out = join(dir, 'out.log');
  const tcpPortFile = join(dir, 'tcp.port');
  const udpPort = await freeUdpPort();
  const conf = join(dir, 'rsyslog.conf');
  writeFileSync(
    conf,
    [
      `global(workDirectory="${dir}")`,
      'module(load="imudp")',
      'module(load="imtcp")',
      // No address: both IPv4 and IPv6 (so "localhost" is heard whichever address it resolves to).
      `input(type="imudp" port="${udpPort}")`,
      `input(type="imtcp" port="0" listenPortFileName="${tcpPortFile}")`,
      'template(name="fields" type="string" string="%pri%|%protocol-version%|%app-name%|%procid%|%msg%\\n")',
      `action(type="omfile" file="${out}" template="fields")`,
      '',
    ].join('\n'),
  );
  const child = spawn(rsyslogd, ['-n', '-f', conf, '-i', join(dir, 'rsyslogd.pid')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  let exited = false;
  const gone = new Promise<void>((resolve) => {
    child.on('exit', () => resolve());
    // A process that could not be spawned (ENOENT, EACCES) never emits 'exit': without this, the cleanup below would wait forever.
    child.on('error', (err) => {
      output += String(err);
      resolve();
    });
  }).then(() => void (exited = true));
  atFileEnd(async () => {
    if (exited) return;
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await gone;
    clearTimeout(killer);
  });

  const messages = (): RsyslogMessage[] => {
    if (!existsSync(out)) return [];
    return readFileSync(out, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const [pri, version, app, procId, ...msg] = line.split('|');
        return { pri: Number(pri), version: version!, app: app!, procId: procId!, msg: msg.join('|') };
      });
  };
  // A daemon that could not start (bad config, port taken) fails the wait at once, with its own words.
  const alive = (): true => {
    if (exited) throw new Error(`${rsyslogd} exited: ${output}`);
    return true;
  };
  await until(() => alive() && existsSync(tcpPortFile) && readFileSync(tcpPortFile, 'utf8').trim() !== '', 'rsyslogd to listen');
  const tcpPort = Number(readFileSync(tcpPortFile, 'utf8').trim());

  // Ready once a probe on each input has come out in the file.
  const heard = (app: string): boolean => alive() && messages().some((m) => m.app === app);
  await until(async () => {
    const udp = createSocket('udp4');
    await new Promise<void>((resolve) => udp.send('<14>1 - - probe-udp - - - ready', udpPort, '127.0.0.1', () => resolve()));
    udp.close();
    return heard('probe-udp');
  }, 'rsyslogd to hear UDP', 10_000, 100);
  await new Promise<void>((resolve, reject) => {
    const message = '<14>1 - - probe-tcp - - - ready';
    const socket = connect(tcpPort, '127.0.0.1', () => socket.end(`${message.length} ${message}`));
    socket.on('close', () => resolve());
    socket.on('error', reject);
  });
  await until(() => heard('probe-tcp'), 'rsyslogd to hear TCP', 10_000);
  return { udpPort, tcpPort, messages };
}
