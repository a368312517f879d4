// What TLS session resumption saves under mutual TLS: N connections, each a handshake
// and one small HTTP request, full handshakes against resumed sessions, TLS 1.3 and 1.2,
// with ECDSA P-256 and RSA 2048 keys (server and client alike). The server is a real
// `firkin serve` (embedded engine, one process, Firkin's TLS options) in a child
// process; its CPU time per connection comes from /proc, the client's wall time from here.
//
//   npm run build:server && node benchmarks/tls-handshakes.mjs [connections=400]
//
// docs/security.md ("Session resumption") quotes a run of this.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { fileURLToPath } from 'node:url';

const N = Number(process.argv[2] ?? 400);
const FIRKIN = fileURLToPath(new URL('../bin/firkin.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'firkin-tls-bench-'));
const openssl = (...args) => execFileSync('openssl', args, { stdio: 'ignore' });
const KEYS = {
  ecdsa: ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'],
  rsa: ['-newkey', 'rsa:2048'],
};

function pki(kind) {
  const p = (name) => join(dir, `${kind}-${name}`);
  openssl('req', '-x509', ...KEYS[kind], '-nodes', '-keyout', p('ca.key'), '-out', p('ca.pem'), '-days', '1', '-subj', '/CN=Bench CA');
  const issue = (name, cn, ext) => {
    openssl('req', ...KEYS[kind], '-nodes', '-keyout', p(`${name}.key`), '-out', p(`${name}.csr`), '-subj', `/CN=${cn}`);
    writeFileSync(p(`${name}.ext`), ext);
    openssl('x509', '-req', '-in', p(`${name}.csr`), '-CA', p('ca.pem'), '-CAkey', p('ca.key'), '-set_serial', String(Date.now()), '-days', '1', '-out', p(`${name}.pem`), '-extfile', p(`${name}.ext`));
  };
  issue('server', 'localhost', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  issue('client', 'bench', 'extendedKeyUsage=clientAuth\n');
  return { ca: p('ca.pem'), server: { cert: p('server.pem'), key: p('server.key') }, client: { cert: p('client.pem'), key: p('client.key') } };
}

async function serve(files) {
  const config = join(dir, `config-${Date.now()}.yaml`);
  writeFileSync(
    config,
    `listen_port: 0\nworkers: 1\nembedded:\n  path: ${join(dir, `data-${Date.now()}`)}\n` +
      `tls:\n  cert: ${files.server.cert}\n  key: ${files.server.key}\n  ca: ${files.ca}\n` +
      'namespaces:\n  - name: sessions\n    base_uri: /sessions/v1/\n    clients: [cn:bench]\n',
  );
  const child = spawn(process.execPath, [FIRKIN, 'serve', '--config', config], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise((resolve) => {
    let text = '';
    child.stdout.on('data', (c) => {
      text += c;
      const m = /"url":"([^"]+)"/.exec(text);
      if (m) resolve(m[1]);
    });
  });
  return { child, url };
}

/** CPU seconds (user + system) a process has used so far. */
function cpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (100 a second)
}

function once(port, files, version, session) {
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: '127.0.0.1',
      port,
      ca: readFileSync(files.ca),
      cert: readFileSync(files.client.cert),
      key: readFileSync(files.client.key),
      minVersion: version,
      maxVersion: version,
      session,
    });
    let latest;
    let reused = false;
    let text = '';
    socket.on('session', (s) => (latest = s));
    socket.once('secureConnect', () => {
      reused = socket.isSessionReused();
      socket.write('GET /sessions/v1/bench-key:0001 HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n');
    });
    socket.on('data', (c) => (text += c));
    socket.on('error', reject);
    socket.on('close', () => {
      if (!text.startsWith('HTTP/1.1 404')) return reject(new Error(`unexpected answer: ${text.slice(0, 40)}`));
      resolve({ reused, session: latest });
    });
  });
}

async function measure(port, pid, files, version, resume) {
  let session = resume ? (await once(port, files, version)).session : undefined;
  let reused = 0;
  const cpu0 = cpuSeconds(pid);
  const t0 = performance.now();
  for (let i = 0; i < N; i++) {
    const r = await once(port, files, version, session);
    if (resume) {
      session = r.session ?? session;
      if (r.reused) reused++;
    }
  }
  const wall = (performance.now() - t0) / N;
  const cpu = ((cpuSeconds(pid) - cpu0) / N) * 1000;
  return { wall, cpu, reused };
}

const rows = [];
for (const kind of ['ecdsa', 'rsa']) {
  const files = pki(kind);
  const { child, url } = await serve(files);
  const port = Number(new URL(url).port);
  for (let i = 0; i < 100; i++) await once(port, files, 'TLSv1.3'); // warm-up
  for (const version of ['TLSv1.3', 'TLSv1.2']) {
    const full = await measure(port, child.pid, files, version, false);
    const resumed = await measure(port, child.pid, files, version, true);
    rows.push({ kind, version, full, resumed });
  }
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
}
rmSync(dir, { recursive: true, force: true });

console.log(`${N} connections each (handshake and one GET answered 404), one at a time; ${process.version}, ${execFileSync('openssl', ['version']).toString().trim()}`);
console.log('| keys | version | full handshake: wall ms / server CPU ms | resumed: wall ms / server CPU ms | resumed | saving (server CPU) |');
console.log('|---|---|---|---|---|---|');
for (const r of rows) {
  const saving = (1 - r.resumed.cpu / r.full.cpu) * 100;
  console.log(
    `| ${r.kind === 'rsa' ? 'RSA 2048' : 'ECDSA P-256'} | ${r.version.replace('TLSv', 'TLS ')} | ${r.full.wall.toFixed(2)} / ${r.full.cpu.toFixed(2)} | ` +
      `${r.resumed.wall.toFixed(2)} / ${r.resumed.cpu.toFixed(2)} | ${r.resumed.reused}/${N} | ${saving.toFixed(0)} % |`,
  );
}
