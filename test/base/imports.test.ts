/**
 * No module of src/ does anything when it is imported, but the entry points (cli.ts,
 * which runs `firkin`, and storage/embedded/probe-child.ts, the start-up probe's child
 * process): importing the others changes neither the environment
 * (the key-hash secret used to be taken out of it at import), nor the process's signal
 * and event listeners, nor starts a timer or opens a handle.
 */
import assert from 'node:assert/strict';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

const DIST_SRC = fileURLToPath(new URL('../../src', import.meta.url));
const ENTRY_POINTS = new Set(['cli.js', join('storage', 'embedded', 'probe-child.js')]);

function modules(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return modules(path);
    return name.endsWith('.js') ? [path] : [];
  });
}

describe('importing src/', () => {
  it('has no side effect: environment, listeners, timers and handles unchanged', async () => {
    const all = modules(DIST_SRC).filter((m) => !ENTRY_POINTS.has(relative(DIST_SRC, m)));
    assert.ok(all.length > 50, `${all.length} modules`);
    process.env.FIRKIN_KEY_HASH_SECRET = 'ab'.repeat(32);
    const env = { ...process.env };
    const events = ['SIGTERM', 'SIGINT', 'SIGHUP', 'message', 'exit', 'uncaughtException', 'unhandledRejection', 'disconnect'] as const;
    const listeners = events.map((e) => process.listenerCount(e));
    await new Promise((resolve) => setImmediate(resolve));
    const resources = process.getActiveResourcesInfo().length;
    for (const m of all) await import(pathToFileURL(m).href);
    await new Promise((resolve) => setImmediate(resolve)); // the module loader's own reads finish
    assert.deepEqual({ ...process.env }, env, 'the environment is unchanged');
    assert.deepEqual(events.map((e) => process.listenerCount(e)), listeners, `listeners of ${events.join(', ')}`);
    assert.equal(process.getActiveResourcesInfo().length, resources, `handles and timers: ${process.getActiveResourcesInfo().join(', ')}`);
    delete process.env.FIRKIN_KEY_HASH_SECRET;
  });
});
