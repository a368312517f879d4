/** `firkin import` (transfer-shared.ts says what the three transfer commands share). */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { MAX_TTL_SECONDS } from './config/schema.js';
import type { FirkinConfig, NamespaceConfig } from './config/types.js';
import { version } from './base/version.js';
import { namespaceSpec } from './namespace/namespace.js';
import { Keyring } from './seal/keyring.js';
import { freshSeal, keyIdOf, STORAGE_KEY_PREFIX } from './seal/sealing.js';
import type { NamespaceSpec } from './storage/engine.js';
import { openTarget, type TransferTarget } from './storage/transfer.js';
import { EXIT_STREAM_REFUSED, lineLimitFor, quote, readStream, StreamRefused, type StreamHeader, type StreamItem, type StreamRecord } from './transfer-format.js';
import { keyringOf, Progress, say, seconds } from './transfer-shared.js';

/** Writes an import keeps in flight at most. */
const IMPORT_CONCURRENCY = 64;
/** Bytes of records (keys and values) an import keeps in flight at most; a larger record is written alone. */
const IMPORT_BYTES = 16 * 1024 * 1024;
/** C0 controls and DEL: the API refuses keys holding them (api/route.ts), so such a session could never be read. */
const CONTROL = /[\x00-\x1f\x7f]/;

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
  const keyring = [...plans.values()].some((p) => p.config.sealing !== 'plain') ? keyringOf(config) : undefined;
  if (config.storage === 'embedded') {
    // Which store (a relative embedded.path outside systemd may name another than the servers'); a new one is allowed (back from Cassandra).
    const { DATA_FILE } = await import('./storage/embedded/files.js');
    const fresh = !existsSync(join(config.embedded.path, DATA_FILE));
    say(`import: embedded store at ${config.embedded.path}${fresh ? ' (none there yet: this import creates it)' : ''}`);
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
  let bytesInFlight = 0;
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
      // Bounded in writes and in bytes: a record waits until both have room (one larger than IMPORT_BYTES, until it is alone).
      const bytes = Buffer.byteLength(item.record.key, 'utf8') + item.record.value.length;
      while (inFlight.size > 0 && (inFlight.size >= IMPORT_CONCURRENCY || bytesInFlight + bytes > IMPORT_BYTES)) await Promise.race(inFlight);
      if (failure !== undefined) break;
      bytesInFlight += bytes;
      const write = importRecord(config, header, plan, keyring, target, item.record, item.line)
        .catch((err: unknown) => {
          failure ??= err;
        })
        .finally(() => {
          inFlight.delete(write);
          bytesInFlight -= bytes;
        });
      inFlight.add(write);
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
  const summary = `${read} records read from a stream of the ${quote(header.source)} store written ${new Date(header.at).toISOString()}${others}; ${seconds(Date.now() - started)}`;
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
  if (only !== undefined && wanted.length === 0) return `the stream holds no namespace ${only} (it holds ${header.namespaces.map((n) => quote(n.name)).join(', ') || 'none'})`;
  const plans = new Map<string, Plan>();
  for (const ns of wanted) {
    const target = config.namespaces.find((n) => n.name === ns.name);
    const file = config.file ?? 'the config';
    if (target === undefined) return `the stream holds namespace ${quote(ns.name)}, which ${file} does not configure: add it, or import the others one by one with --namespace`;
    if (ns.sealed && target.sealing === 'plain') {
      return `namespace ${ns.name} is sealed in the stream and plain in ${file}: its records are sealed (storage keys and sealed values), and only a sealed namespace with the same keyring keys opens them`;
    }
    if (!ns.sealed && target.sealing === 'sealed') {
      return `namespace ${ns.name} is plain in the stream and sealed in ${file}: set it to \`sealed: migrate\` for the import (an import seals each plain session there under the active key, as a write would)`;
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
        `line ${line}: a record of sealed namespace ${plan.config.name} is sealed under key ${quote(id)}, which the keyring of ${config.file ?? 'the config'} lacks: give the target the source's keyring keys`,
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
    // The shape of a sealed storage key: in a sealed namespace, a plain record of that shape is no client's session
    // (a sealed record of a namespace since made plain, most likely), and the sealed store would not read it as one.
    if (plan.config.sealing !== 'plain' && record.key.startsWith(STORAGE_KEY_PREFIX)) return refuse(`key starting with ${STORAGE_KEY_PREFIX} (a sealed storage key's prefix) in a sealed namespace`);
  }
  if (valueBytes > config.maxValueBytes) return refuse(`value larger than max_value_bytes ${config.maxValueBytes}`);
  if (valueBytes === 0) return refuse('empty value');
  // Computed again at the moment of the write (after an add's read, a queue of writes in flight): the lifetime left then.
  const ttlNow = (): number => (record.ttl === null ? ttl : Math.max(1, Math.min(Math.round(record.ttl - (Date.now() - header.at) / 1000), ceiling)));
  let key = record.key;
  let value = record.value;
  if (!plan.sealed && plan.config.sealing === 'migrate') {
    // A plain session into a migrate namespace: stored as a write there stores it, sealed under the active key, unless
    // the session has a copy already (under any keyring key, or plain), which is the live one: kept, as a present key is.
    const keys = keyring!.forNamespace(plan.config.name);
    for (const copy of [...keys.all.map((k) => k.storageKey(record.key)), record.key]) {
      if (await target.has(plan.spec, copy)) {
        tally.present++;
        return;
      }
    }
    key = keys.active.storageKey(record.key);
    value = keys.active.seal(record.value, key, freshSeal(ttlNow()));
  }
  if (await target.add(plan.spec, key, value, ttlNow)) tally.added++;
  else tally.present++;
}
