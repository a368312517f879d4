/** `firkin export` (transfer-shared.ts says what the three transfer commands share). */
import { once } from 'node:events';
import { join } from 'node:path';
import type { FirkinConfig } from './config/types.js';
import { version } from './base/version.js';
import { namespaceSpec } from './namespace/namespace.js';
import { Keyring } from './seal/keyring.js';
import { freshSeal, STORAGE_KEY_PREFIX } from './seal/sealing.js';
import type { NamespaceSpec } from './storage/engine.js';
import { openSource, type TransferRecord, type TransferSource } from './storage/transfer.js';
import { endLine, headerLine, recordLine } from './transfer-format.js';
import { keyringOf, Progress, say, seconds, selected } from './transfer-shared.js';

/** About how much text an export hands stdout at once (it then waits for the pipe when stdout says so). */
const WRITE_CHARS = 256 * 1024;

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
  if (config.storage === 'embedded') say(`export: embedded store at ${config.embedded.path}`);
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
