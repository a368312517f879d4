/**
 * Outgrowing one machine (docs/operations.md, "Moving to Cassandra (and back)" and
 * "Backups"):
 *
 *   firkin export --config FILE [--namespace NAME]   every live session, to stdout (transfer-format.ts)
 *   firkin import --config FILE [--namespace NAME]   that stream, from stdin, into the configured store
 *   firkin backup --config FILE DIR                  a consistent, compacted copy of a live embedded store
 *
 * All three work while the servers of both stores keep serving: export reads (the
 * embedded store opened read-only, Cassandra in paged SELECTs), import only adds (a key
 * holding a live value is left as it is), backup copies in one LMDB read transaction.
 * Memory is bounded: export holds one page of records, import one line and a bounded
 * number of writes in flight; both wait for the pipe. Progress goes to stderr, once a
 * second, when stderr is a terminal.
 *
 * Sealed namespaces: their storage keys are one-way keyed hashes of the clients' keys,
 * so no tool can give the sessions back in clear, keyring or not, and there is no
 * plaintext export. An export of a sealed namespace is refused unless the operator
 * says `--sealed-as-stored`; the stream then carries their records exactly as stored
 * (nothing in clear), and an import checks that each
 * one opens under the target's keyring (the same keys, the same namespace name) before
 * it stores it. A `migrate` namespace's plain copies (sessions stored before it was
 * sealed, still served) are sealed by the export under the active key, as a touch would
 * move them: nothing of a sealed namespace leaves in clear.
 */
import { once } from 'node:events';
import { closeSync, existsSync, fsyncSync, openSync, renameSync, statSync, unlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { MAX_TTL_SECONDS } from './config/schema.js';
import type { FirkinConfig, NamespaceConfig } from './config/types.js';
import { readKeyring } from './config/keyring-files.js';
import { version } from './base/version.js';
import { namespaceSpec } from './namespace/namespace.js';
import { Keyring } from './seal/keyring.js';
import { freshSeal, keyIdOf, STORAGE_KEY_PREFIX } from './seal/sealing.js';
import type { NamespaceSpec } from './storage/engine.js';
import { openSource, openTarget, type TransferRecord, type TransferSource, type TransferTarget } from './storage/transfer.js';
import { endLine, EXIT_STREAM_REFUSED, headerLine, lineLimitFor, readStream, recordLine, StreamRefused, type StreamHeader, type StreamItem, type StreamRecord } from './transfer-format.js';

/** About how much text an export hands stdout at once (it then waits for the pipe when stdout says so). */
const WRITE_CHARS = 256 * 1024;
/** Writes an import keeps in flight at most. */
const IMPORT_CONCURRENCY = 64;
/** C0 controls and DEL: the API refuses keys holding them (api/route.ts), so such a session could never be read. */
const CONTROL = /[\x00-\x1f\x7f]/;

const say = (line: string): void => void process.stderr.write(`firkin: ${line}\n`);

/** Counts on stderr once a second while stderr is a terminal; nothing otherwise. */
class Progress {
  private readonly started = Date.now();
  private last = Date.now();
  private shown = false;
  constructor(private readonly what: string) {}

  update(count: number, detail = ''): void {
    if (process.stderr.isTTY !== true || Date.now() - this.last < 1000) return;
    this.last = Date.now();
    const rate = Math.round(count / Math.max(0.001, (this.last - this.started) / 1000));
    process.stderr.write(`\rfirkin ${this.what}: ${count} sessions, ${rate}/s${detail}\x1b[K`);
    this.shown = true;
  }

  done(): void {
    if (this.shown) process.stderr.write('\r\x1b[K');
  }
}

/** The namespaces a command works on: all configured, or `only`; undefined (said) if `only` is not configured. */
function selected(config: FirkinConfig, only: string | undefined): readonly NamespaceConfig[] | undefined {
  if (only === undefined) return config.namespaces;
  const ns = config.namespaces.find((n) => n.name === only);
  if (ns === undefined) {
    say(`${config.file ?? 'the config'} has no namespace ${only} (it has ${config.namespaces.map((n) => n.name).join(', ')})`);
    return undefined;
  }
  return [ns];
}

function keyringOf(config: FirkinConfig): Keyring {
  return new Keyring(config.keyring!.active, readKeyring(config.keyring!, config.file));
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

// ─── export ───

/**
 * `firkin export`: the header, every live session of the selected namespaces, the end
 * line. 0: written whole; 1: the store could not be read or stdout closed (the stream
 * then lacks its end line, which an import refuses); 2: bad usage, or a sealed namespace
 * without `sealedAsStored` (nothing is written).
 */
export async function exportSessions(config: FirkinConfig, only: string | undefined, options: { sealedAsStored?: boolean } = {}): Promise<number> {
  const namespaces = selected(config, only);
  if (namespaces === undefined) return 2;
  const sealed = namespaces.filter((ns) => ns.sealing !== 'plain').map((ns) => ns.name);
  if (sealed.length > 0 && options.sealedAsStored !== true) {
    say(
      `export refused: namespace${sealed.length > 1 ? 's' : ''} ${sealed.join(', ')} ${sealed.length > 1 ? 'are' : 'is'} sealed. Nothing of a sealed namespace leaves in clear ` +
        '(its storage keys are one-way hashes: no keyring gives the clients\' keys back); its records can leave only as stored, sealed, ' +
        'and only a store whose keyring holds the same keys takes them. Give --sealed-as-stored to export them so, or leave them out with --namespace',
    );
    return 2;
  }
  if (process.stdout.isTTY === true) {
    say('export writes every session (their keys are credentials) to standard output: redirect it to a file or pipe it into `firkin import`');
    return 2;
  }
  const keyring = namespaces.some((ns) => ns.sealing === 'migrate') ? keyringOf(config) : undefined;
  const started = Date.now();
  let source: TransferSource;
  try {
    source = await openSource(config);
  } catch (err) {
    say(`export failed: ${(err as Error).message}`);
    return 1;
  }
  // To a pipe or a socket, process.stdout writes asynchronously and says when to wait for 'drain'.
  const stream = process.stdout;
  let broken: Error | undefined;
  stream.on('error', (err: Error) => (broken ??= err));
  const write = async (text: string): Promise<void> => {
    if (broken !== undefined) throw broken;
    if (!stream.write(text)) await once(stream, 'drain');
  };
  const at = Date.now();
  const counts = new Map<string, number>();
  let total = 0;
  let sealedHere = 0;
  let plainLeft = 0;
  const progress = new Progress('export');
  try {
    await write(headerLine({ at, source: config.storage, firkin: version(), namespaces: namespaces.map((ns) => ({ name: ns.name, sealed: ns.sealing !== 'plain' })) }));
    for (const ns of namespaces) {
      const spec = namespaceSpec(ns);
      let n = 0;
      for await (const page of source.pages(spec)) {
        let text = '';
        for (const record of page) {
          let r: TransferRecord | undefined = record;
          if (ns.sealing !== 'plain' && !record.key.startsWith(STORAGE_KEY_PREFIX)) {
            // A plain copy in a sealed namespace: served in migrate mode (sealed here), not otherwise (left out).
            r = ns.sealing === 'migrate' ? await sealPlainCopy(source, spec, keyring!, record) : undefined;
            if (r === undefined) plainLeft++;
            else sealedHere++;
          }
          if (r === undefined) continue;
          text += recordLine(ns.name, r.key, r.value, r.expiresAt, at);
          n++;
          // Written in pieces of about WRITE_CHARS: a page's text is never held whole.
          if (text.length >= WRITE_CHARS) {
            await write(text);
            text = '';
          }
        }
        if (text !== '') await write(text);
        progress.update(total + n, `, namespace ${ns.name}`);
      }
      counts.set(ns.name, n);
      total += n;
    }
    await write(endLine(total));
    if (stream.writableNeedDrain) await once(stream, 'drain');
  } catch (err) {
    progress.done();
    say(`export failed after ${total} sessions: ${(err as Error).message}; the stream lacks its end line, and an import refuses it`);
    return 1;
  } finally {
    await source.close().catch(() => undefined);
  }
  progress.done();
  const parts = [...counts].map(([name, n]) => `${name} ${n}`).join(', ');
  const notes = [
    source.damaged > 0 ? `${source.damaged} damaged record(s) left out (never served: \`firkin store check\`)` : '',
    sealedHere > 0 ? `${sealedHere} plain copies of migrate namespaces sealed under key ${config.keyring?.active}` : '',
    plainLeft > 0 ? `${plainLeft} plain copies left out (not served: in a sealed namespace, or with a sealed copy beside them)` : '',
  ].filter((s) => s !== '');
  say(`export: ${total} sessions (${parts}) from the ${config.storage} store in ${seconds(Date.now() - started)}${notes.length > 0 ? `; ${notes.join('; ')}` : ''}`);
  return 0;
}

/**
 * A `migrate` namespace's plain copy, sealed under the active key as a touch would move
 * it (a new version, the same expiry); undefined when the session has a sealed copy
 * (that one is the live session, exported in its own right).
 */
async function sealPlainCopy(source: TransferSource, spec: NamespaceSpec, keyring: Keyring, record: TransferRecord): Promise<TransferRecord | undefined> {
  const keys = keyring.forNamespace(spec.name);
  for (const key of keys.all) if ((await source.get(spec, key.storageKey(record.key))) !== undefined) return undefined;
  const storageKey = keys.active.storageKey(record.key);
  const ttl = record.expiresAt === null ? 0 : Math.max(1, Math.ceil((record.expiresAt - Date.now()) / 1000));
  return { key: storageKey, value: keys.active.seal(record.value, storageKey, freshSeal(ttl)), expiresAt: record.expiresAt };
}

// ─── import ───

/** What an import did with one namespace's records. */
interface Tally {
  added: number;
  present: number;
  expired: number;
  refused: Map<string, number>;
}

/** The target's reading of one namespace of the stream. */
interface Plan {
  readonly config: NamespaceConfig;
  readonly spec: NamespaceSpec;
  readonly sealed: boolean;
  readonly tally: Tally;
}

/** A record that shows the target cannot take this stream: the import stops. */
class ImportStopped extends Error {}

/**
 * `firkin import`: the stream on stdin into the configured store, adding only where a
 * key holds no live value. 0: every record taken (added, present already, or expired
 * since); 1: the store failed, a sealed record does not open under the target's keyring,
 * or some records were refused (too large for the target's limits); 2: bad usage, or a
 * stream the target's namespaces cannot take; 3: the embedded store is damaged;
 * 4: the stream is refused (another version, damaged, cut short).
 */
export async function importSessions(config: FirkinConfig, only: string | undefined): Promise<number> {
  if (process.stdin.isTTY === true) {
    say('import reads a stream of `firkin export` from standard input: pipe one into it, or redirect a file');
    return 2;
  }
  const started = Date.now();
  // A line holds one record; one longer than the target could take is read past, not held.
  const items = readStream(process.stdin, lineLimitFor(config.maxValueBytes, config.maxKeyBytes));
  let header: StreamHeader;
  try {
    const first = await items.next();
    header = (first.value as Extract<StreamItem, { kind: 'header' }>).header;
  } catch (err) {
    if (!(err instanceof StreamRefused)) throw err;
    say(`import refused: ${err.message}`);
    return EXIT_STREAM_REFUSED;
  }
  const plans = planImport(config, header, only);
  if (typeof plans === 'string') {
    say(`import refused: ${plans}`);
    return 2;
  }
  const keyring = [...plans.values()].some((p) => p.sealed) ? keyringOf(config) : undefined;
  if (config.storage === 'embedded') {
    const refused = await embeddedRefusal(config.embedded.path);
    if (refused !== undefined) {
      say(`import refused: ${refused}`);
      return 3;
    }
  }
  let target: TransferTarget;
  try {
    target = await openTarget(config);
  } catch (err) {
    say(`import failed: ${(err as Error).message}`);
    return 1;
  }

  let read = 0;
  let otherNamespaces = 0;
  let oversized = 0;
  let failure: unknown;
  let refusal: StreamRefused | undefined;
  const inFlight = new Set<Promise<void>>();
  const progress = new Progress('import');
  try {
    for await (const item of items) {
      if (failure !== undefined) break;
      if (item.kind === 'oversized') {
        read++;
        oversized++;
        continue;
      }
      if (item.kind !== 'record') continue;
      read++;
      const plan = plans.get(item.record.ns);
      if (plan === undefined) {
        otherNamespaces++;
        continue;
      }
      const write = importRecord(config, header, plan, keyring, target, item.record, item.line)
        .catch((err: unknown) => {
          failure ??= err;
        })
        .finally(() => inFlight.delete(write));
      inFlight.add(write);
      if (inFlight.size >= IMPORT_CONCURRENCY) await Promise.race(inFlight);
      progress.update(read);
    }
  } catch (err) {
    if (!(err instanceof StreamRefused)) throw err;
    refusal = err;
  }
  await Promise.all(inFlight);
  await target.close().catch(() => undefined);
  progress.done();

  let refused = 0;
  for (const [name, { tally }] of plans) {
    const r = [...tally.refused].map(([why, n]) => `${n} refused (${why})`);
    refused += [...tally.refused.values()].reduce((a, b) => a + b, 0);
    process.stdout.write(
      `namespace ${name}: ${tally.added} added, ${tally.present} already present (kept), ${tally.expired} expired (skipped)${r.length > 0 ? `, ${r.join(', ')}` : ''}\n`,
    );
  }
  const taken = [...plans.values()].reduce((n, p) => n + p.tally.added + p.tally.present, 0);
  const others =
    (otherNamespaces > 0 ? `, ${otherNamespaces} of other namespaces skipped` : '') +
    (oversized > 0 ? `, ${oversized} refused (a line longer than max_value_bytes ${config.maxValueBytes} allows)` : '');
  refused += oversized;
  const summary = `${read} records read from a stream of the ${header.source} store written ${new Date(header.at).toISOString()}${others}; ${seconds(Date.now() - started)}`;
  if (failure !== undefined) {
    say(`import stopped: ${(failure as Error).message}. The records taken before it stay (an import only adds: running it again is safe). ${summary}`);
    return 1;
  }
  if (refusal !== undefined) {
    say(`import refused: ${refusal.message}. The ${taken} records before it were taken (an import only adds: run it again with a whole stream). ${summary}`);
    return EXIT_STREAM_REFUSED;
  }
  process.stdout.write(`import: ${summary}\n`);
  if (refused > 0) say(`import: ${refused} records refused by the limits of ${config.file ?? 'the config'} (counted by reason on stdout); the others were taken`);
  return refused > 0 ? 1 : 0;
}

/** For each namespace of the stream to import, the target's namespace; or why the target cannot take the stream. */
function planImport(config: FirkinConfig, header: StreamHeader, only: string | undefined): Map<string, Plan> | string {
  const wanted = only === undefined ? header.namespaces : header.namespaces.filter((ns) => ns.name === only);
  if (only !== undefined && wanted.length === 0) return `the stream holds no namespace ${only} (it holds ${header.namespaces.map((n) => n.name).join(', ') || 'none'})`;
  const plans = new Map<string, Plan>();
  for (const ns of wanted) {
    const target = config.namespaces.find((n) => n.name === ns.name);
    const file = config.file ?? 'the config';
    if (target === undefined) return `the stream holds namespace ${ns.name}, which ${file} does not configure: add it, or import the others one by one with --namespace`;
    if (ns.sealed && target.sealing === 'plain') {
      return `namespace ${ns.name} is sealed in the stream and plain in ${file}: its records are sealed (storage keys and sealed values), and only a sealed namespace with the same keyring keys opens them`;
    }
    if (!ns.sealed && target.sealing === 'sealed') {
      return `namespace ${ns.name} is plain in the stream and sealed in ${file}: set it to \`sealed: migrate\` for the import (migrate mode serves plain sessions, and seals each one as it is written or touched)`;
    }
    plans.set(ns.name, { config: target, spec: namespaceSpec(target), sealed: ns.sealed, tally: { added: 0, present: 0, expired: 0, refused: new Map() } });
  }
  return plans;
}

/** Why the embedded store must not be written (damaged, or another format), or undefined. */
async function embeddedRefusal(path: string): Promise<string | undefined> {
  const { probeStore, StoreRefused } = await import('./storage/embedded/probe.js');
  try {
    await probeStore(path);
    return undefined;
  } catch (err) {
    if (err instanceof StoreRefused) return `${err.message}: nothing was written (docs/embedded.md, "Recovery")`;
    return undefined; // the probe could not run: opening the store tells
  }
}

async function importRecord(
  config: FirkinConfig,
  header: StreamHeader,
  plan: Plan,
  keyring: Keyring | undefined,
  target: TransferTarget,
  record: StreamRecord,
  line: number,
): Promise<void> {
  const { tally } = plan;
  const refuse = (why: string): void => void tally.refused.set(why, (tally.refused.get(why) ?? 0) + 1);
  // The remaining lifetime, clamped as a write's: never longer than the target namespace keeps sessions.
  let ttl: number;
  const ceiling = plan.config.defaultTtl === 0 ? MAX_TTL_SECONDS : plan.config.defaultTtl;
  if (record.ttl === null) {
    ttl = plan.config.defaultTtl;
  } else {
    const remaining = record.ttl - (Date.now() - header.at) / 1000;
    if (remaining <= 0) {
      tally.expired++;
      return;
    }
    ttl = Math.min(Math.ceil(remaining), ceiling);
  }
  let valueBytes = record.value.length;
  if (plan.sealed) {
    // Opened before it is stored: the target must hold its key, for this namespace and storage key.
    const id = keyIdOf(record.value);
    const key = id === undefined ? undefined : keyring!.forNamespace(plan.config.name).byId(id);
    if (!record.key.startsWith(STORAGE_KEY_PREFIX) || id === undefined) {
      throw new ImportStopped(`line ${line}: a record of sealed namespace ${plan.config.name} is not a sealed record`);
    }
    if (key === undefined) {
      throw new ImportStopped(
        `line ${line}: a record of sealed namespace ${plan.config.name} is sealed under key ${id}, which the keyring of ${config.file ?? 'the config'} lacks: give the target the source's keyring keys`,
      );
    }
    const opened = key.open(record.value, record.key);
    if (!opened.ok && opened.reason === 'expired') {
      tally.expired++;
      return;
    }
    if (!opened.ok) {
      throw new ImportStopped(
        `line ${line}: a record of sealed namespace ${plan.config.name} does not open under key ${id} of ${config.file ?? 'the config'} (${opened.reason}): ` +
          'the target needs the very key the source has under that id, and the same namespace name',
      );
    }
    valueBytes = opened.value.length;
  } else {
    if (Buffer.byteLength(record.key, 'utf8') > config.maxKeyBytes) return refuse(`key longer than max_key_bytes ${config.maxKeyBytes}`);
    if (CONTROL.test(record.key)) return refuse('key with a control character');
  }
  if (valueBytes > config.maxValueBytes) return refuse(`value larger than max_value_bytes ${config.maxValueBytes}`);
  if (valueBytes === 0) return refuse('empty value');
  // Computed again at the moment of the write (after an add's read, a queue of writes in flight): the lifetime left then.
  const ttlNow = (): number => (record.ttl === null ? ttl : Math.max(1, Math.min(Math.round(record.ttl - (Date.now() - header.at) / 1000), ceiling)));
  if (await target.add(plan.spec, record.key, record.value, ttlNow)) tally.added++;
  else tally.present++;
}

// ─── backup ───

/**
 * `firkin backup DIR`: a consistent, compacted copy of the live embedded store as
 * DIR/firkin.mdb, which a server whose `embedded.path` is DIR serves as it is. Written
 * under a temporary name, flushed, checked, then renamed: DIR/firkin.mdb is whole or
 * absent. 0: written; 1: it failed; 2: bad usage (Cassandra, DIR holds a store already).
 */
export async function backupStore(config: FirkinConfig, dir: string): Promise<number> {
  if (config.storage !== 'embedded') {
    say(
      `backup copies the embedded store; ${config.file ?? 'the config'} uses Cassandra: take a snapshot on every node with ` +
        `\`nodetool snapshot -t <name> ${config.cassandra?.keyspace ?? '<keyspace>'}\` (docs/operations.md, "Backups")`,
    );
    return 2;
  }
  const { DATA_FILE, prepareDirectory, restrictMode } = await import('./storage/embedded/files.js');
  const { EmbeddedEngine } = await import('./storage/embedded/lmdb-engine.js');
  const { probeStore } = await import('./storage/embedded/probe.js');
  const to = resolve(dir);
  const file = join(to, DATA_FILE);
  if (resolve(config.embedded.path) === to) {
    say(`backup: ${to} is the store's own directory (embedded.path): give another directory`);
    return 2;
  }
  if (existsSync(file)) {
    say(`backup: ${file} exists: a backup never overwrites a store; give an empty directory`);
    return 2;
  }
  const started = Date.now();
  let engine: InstanceType<typeof EmbeddedEngine>;
  try {
    prepareDirectory(to);
    engine = new EmbeddedEngine({ path: config.embedded.path, readOnly: true });
  } catch (err) {
    say(`backup failed: ${(err as Error).message}`);
    return 1;
  }
  const partial = join(to, `${DATA_FILE}.partial-${process.pid}`);
  try {
    if (existsSync(partial)) unlinkSync(partial);
    await engine.backup(partial);
    restrictMode(partial, 0o600);
    const fd = openSync(partial, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(partial, file);
    const dirFd = openSync(to, 'r');
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
  } catch (err) {
    if (existsSync(partial)) unlinkSync(partial);
    say(`backup failed: ${(err as Error).message}`);
    return 1;
  } finally {
    await engine.close();
  }
  // The copy passes the start-up check a server runs on it.
  let probe;
  try {
    probe = await probeStore(to);
  } catch (err) {
    say(`backup written to ${file}, but it does not pass the start-up check: ${(err as Error).message}`);
    return 1;
  }
  const source = statSync(join(config.embedded.path, DATA_FILE)).size;
  process.stdout.write(
    `backup: ${file}: ${probe.facts?.bytes ?? 0} bytes (the store's file: ${source}), format ${probe.format ?? 'none'}, ` +
      `namespaces ${probe.namespaces?.join(', ') || 'none'}, a consistent copy as of ${new Date(started).toISOString()}, in ${seconds(Date.now() - started)}; ` +
      `a server whose embedded.path is ${to} serves it (\`firkin store check\` reads every record of it)\n`,
  );
  return 0;
}
