/**
 * The storage conformance suite: what every engine must do, exactly the same way.
 * An engine's test file calls `storageConformance` with a way to open it; the
 * engine must serve the namespaces `conf_a`, `conf_b` and `conf_truncated` (the only
 * one truncated: on a shared Cassandra, other tests may be using the first two).
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { EngineStore, KeyValueStore, NamespaceSpec, StorageEngine } from '../../src/storage/engine.js';

export const CONFORMANCE_NAMESPACES = [
  { name: 'conf_a', table: 'conf_a' },
  { name: 'conf_b', table: 'conf_b' },
  { name: 'conf_truncated', table: 'conf_truncated' },
] as const;

/**
 * `spec`: settings of both namespaces beyond their name and table (e.g. Cassandra's
 * conditional_writes), so each engine configuration runs the same suite. A store
 * that takes no condition (Cassandra's plain, Kask-mode namespaces) is held to
 * refusing every condition instead of serving them.
 */
export function storageConformance(
  engineName: string,
  open: () => Promise<StorageEngine>,
  spec: Omit<NamespaceSpec, 'name' | 'table'> = {},
  { conditions = true }: { readonly conditions?: boolean } = {},
): void {
  describe(`storage conformance: ${engineName}`, () => {
    let engine: StorageEngine;
    let a: KeyValueStore;
    let b: KeyValueStore;
    let truncated: KeyValueStore;
    const key = (label: string): string => `enwiki:MWSession:${label}:${randomUUID()}`;

    before(async () => {
      engine = await open();
      a = engine.store({ ...CONFORMANCE_NAMESPACES[0], ...spec });
      b = engine.store({ ...CONFORMANCE_NAMESPACES[1], ...spec });
      truncated = engine.store({ ...CONFORMANCE_NAMESPACES[2], ...spec });
    });
    after(async () => {
      await engine.close();
    });

    it('answers its health probe', async () => {
      await engine.probe();
    });

    it('returns undefined for a key never written', async () => {
      assert.equal(await a.get(key('absent')), undefined);
    });

    it('returns the exact bytes written, including NUL and bytes >= 0x80', async () => {
      const k = key('binary');
      const value = Buffer.from([0x00, 0xff, 0x80, 0x0a, 0x00, 0xc3, 0x28, 0x7f]);
      const out = await a.set(k, value, 60);
      assert.equal(out.applied, true);
      const got = await a.get(k);
      assert.ok(got);
      assert.deepEqual([...got.value], [...value]);
      assert.equal(out.applied && out.version, got.version, 'the version the write reported is the one read');
      assert.match(got.version, /^[A-Za-z0-9_-]{22}$/, '128 bits, base64url');
    });

    it('gives versions that tell nothing of the bytes: the same bytes under two keys, two versions', async () => {
      const [k1, k2] = [key('v-one'), key('v-two')];
      const one = await a.set(k1, Buffer.from('the same session'), 60);
      const two = await a.set(k2, Buffer.from('the same session'), 60);
      assert.ok(one.applied && two.applied);
      assert.notEqual(one.version, two.version);
      assert.equal((await a.touch(k1, 60))?.version, one.version, 'a touch keeps the version');
      const other = await a.set(k1, Buffer.from('another session'), 60);
      assert.ok(other.applied && other.version !== one.version, 'new bytes, a new version');
    });

    it('keeps values read one after another independent of each other', async () => {
      const [k1, k2] = [key('one'), key('two')];
      await a.set(k1, Buffer.from('first value'), 60);
      await a.set(k2, Buffer.from('second'), 60);
      const v1 = await a.get(k1);
      const v2 = await a.get(k2);
      assert.equal(v1?.value.toString(), 'first value');
      assert.equal(v2?.value.toString(), 'second');
    });

    it('stores a 1 MiB value', async () => {
      const k = key('large');
      const value = randomBytes(1024 * 1024);
      await a.set(k, value, 60);
      const got = await a.get(k);
      assert.ok(got?.value.equals(value));
    });

    it('handles keys with any Unicode, slashes and spaces', async () => {
      const k = `ключ/with space/${randomUUID()}/€😀`;
      await a.set(k, Buffer.from('unicode'), 60);
      assert.equal((await a.get(k))?.value.toString(), 'unicode');
    });

    it('overwrites, changing the version with the bytes', async () => {
      const k = key('overwrite');
      const first = await a.set(k, Buffer.from('v1'), 60);
      const second = await a.set(k, Buffer.from('v2'), 60);
      assert.ok(first.applied && second.applied);
      assert.notEqual(first.version, second.version);
      assert.equal((await a.get(k))?.value.toString(), 'v2');
    });

    it('reports the remaining TTL, rounded up, never above what was set', async () => {
      const k = key('ttl');
      await a.set(k, Buffer.from('x'), 300);
      const got = await a.get(k);
      assert.ok(got?.ttl !== null && got?.ttl !== undefined);
      assert.ok(got.ttl <= 300 && got.ttl >= 295, `ttl ${got.ttl}`);
    });

    it('keeps a value written with TTL 0 without expiry', async () => {
      const k = key('forever');
      await a.set(k, Buffer.from('x'), 0);
      const got = await a.get(k);
      assert.equal(got?.ttl, null);
    });

    it('never returns a value past its TTL', async () => {
      const k = key('expiry');
      // 2 s: Cassandra counts expiry in whole seconds from the second the write lands in,
      // so a 1 s TTL may end within a millisecond of the write.
      await a.set(k, Buffer.from('short-lived'), 2);
      assert.equal((await a.get(k))?.value.toString(), 'short-lived');
      await sleep(3100);
      assert.equal(await a.get(k), undefined);
    });

    it('deletes, and deleting an absent key succeeds', async () => {
      const k = key('delete');
      await a.set(k, Buffer.from('x'), 60);
      await a.delete(k);
      assert.equal(await a.get(k), undefined);
      await a.delete(k);
      await a.delete(key('never-written'));
    });

    it('keeps namespaces apart: the same key is two values', async () => {
      const k = key('isolation');
      await a.set(k, Buffer.from('in a'), 60);
      assert.equal(await b.get(k), undefined);
      await b.set(k, Buffer.from('in b'), 60);
      assert.equal((await a.get(k))?.value.toString(), 'in a');
      assert.equal((await b.get(k))?.value.toString(), 'in b');
      await b.delete(k);
      assert.equal((await a.get(k))?.value.toString(), 'in a');
    });

    it('truncates one namespace: all of its values go, the other namespace keeps its own', async () => {
      const keys = [key('trunc-1'), key('trunc-2'), key('trunc-3')];
      for (const k of keys) {
        await truncated.set(k, Buffer.from('signed out'), 60);
        await a.set(k, Buffer.from('kept'), 60);
      }
      const forever = key('trunc-forever');
      await truncated.set(forever, Buffer.from('signed out'), 0);
      await truncated.truncate();
      for (const k of [...keys, forever]) assert.equal(await truncated.get(k), undefined, 'gone from the truncated namespace');
      for (const k of keys) assert.equal((await a.get(k))?.value.toString(), 'kept', 'the same key in another namespace is untouched');
      // The namespace takes writes again at once (where it takes conditions, an add finds the key absent).
      assert.equal((await truncated.set(keys[0]!, Buffer.from('again'), 60, conditions ? { kind: 'absent' } : undefined)).applied, true);
      assert.equal((await truncated.get(keys[0]!))?.value.toString(), 'again');
      await truncated.truncate();
      await truncated.truncate(); // an empty namespace truncates too
      assert.equal(await truncated.get(keys[0]!), undefined);
    });

    describe('touch', () => {
      it('gives a live value a new lifetime, its bytes and version unchanged', async () => {
        const k = key('touch');
        const out = await a.set(k, Buffer.from('session'), 60);
        assert.ok(out.applied);
        const touched = await a.touch(k, 300);
        assert.deepEqual(touched, { version: out.version, ttl: 300 });
        const got = await a.get(k);
        assert.equal(got?.value.toString(), 'session');
        assert.equal(got?.version, out.version);
        assert.ok(got.ttl !== null && got.ttl > 295 && got.ttl <= 300, `ttl ${got.ttl}`);
      });

      it('shortens a lifetime as well as it lengthens one', async () => {
        const k = key('touch-shorter');
        await a.set(k, Buffer.from('x'), 300);
        assert.equal((await a.touch(k, 20))?.ttl, 20);
        const ttl = (await a.get(k))?.ttl;
        assert.ok(ttl !== null && ttl !== undefined && ttl > 15 && ttl <= 20, `ttl ${ttl}`);
      });

      it('keeps a value alive past the lifetime it was written with', async () => {
        const k = key('touch-alive');
        await a.set(k, Buffer.from('sliding'), 2); // 2 s: a 1 s TTL may end before the touch (whole seconds)
        assert.ok(await a.touch(k, 60));
        await sleep(3100);
        assert.equal((await a.get(k))?.value.toString(), 'sliding');
      });

      it('applies TTL 0 as a write does: no expiry, and a touch can give an expiry back', async () => {
        const k = key('touch-forever');
        await a.set(k, Buffer.from('x'), 60);
        assert.equal((await a.touch(k, 0))?.ttl, null);
        assert.equal((await a.get(k))?.ttl, null);
        assert.equal((await a.touch(k, 60))?.ttl, 60);
        const ttl = (await a.get(k))?.ttl;
        assert.ok(ttl !== null && ttl !== undefined && ttl > 55 && ttl <= 60, `ttl ${ttl}`);
      });

      it('answers undefined for a missing key, and stores nothing', async () => {
        const k = key('touch-missing');
        assert.equal(await a.touch(k, 60), undefined);
        assert.equal(await a.get(k), undefined);
      });

      it('answers undefined for an expired value, and does not bring it back', async () => {
        const k = key('touch-expired');
        await a.set(k, Buffer.from('old'), 1);
        await sleep(2100);
        assert.equal(await a.touch(k, 60), undefined);
        assert.equal(await a.get(k), undefined);
      });

      it('does not bring back a deleted value, nor touch another namespace', async () => {
        const k = key('touch-deleted');
        await a.set(k, Buffer.from('x'), 60);
        await a.delete(k);
        assert.equal(await a.touch(k, 60), undefined);
        assert.equal(await a.get(k), undefined);
        await b.set(k, Buffer.from('in b'), 60);
        assert.equal(await a.touch(k, 60), undefined);
      });

      it('touches the latest value, and a later write or delete wins over touches', async () => {
        const k = key('touch-then-write');
        await a.set(k, Buffer.from('one'), 60);
        const two = await a.set(k, Buffer.from('two'), 60);
        assert.ok(two.applied);
        assert.equal((await a.touch(k, 120))?.version, two.version);
        assert.ok(await a.touch(k, 300)); // a touch of a touched value
        await a.set(k, Buffer.from('three'), 30);
        const got = await a.get(k);
        assert.equal(got?.value.toString(), 'three');
        assert.ok(got.ttl !== null && got.ttl <= 30, 'the write\'s own lifetime, not the touch\'s');
        await a.delete(k);
        assert.equal(await a.get(k), undefined);
      });

      it('never brings back an old value over a concurrent write or delete', async () => {
        for (let i = 0; i < 15; i++) {
          const k = key(`touch-race-${i}`);
          await a.set(k, Buffer.from('old'), 60);
          const [, written] = await Promise.all([a.touch(k, 600), a.set(k, Buffer.from('new'), 60)]);
          assert.ok(written.applied);
          // The touch came before the write, or touched the new value after it: never the old one.
          assert.equal((await a.get(k))?.value.toString(), 'new', `round ${i}`);
          await Promise.all([a.touch(k, 600), a.delete(k)]);
          assert.equal(await a.get(k), undefined, `round ${i}: deleted`);
        }
      });
    });

    if (!conditions) {
      it('takes no condition at all: every kind is refused, nothing written', async () => {
        assert.equal(a.acceptsConditions, false);
        const k = key('no-conditions');
        for (const condition of [{ kind: 'absent' }, { kind: 'present' }, { kind: 'version', versions: ['v'] }] as const) {
          await assert.rejects(a.set(k, Buffer.from('x'), 60, condition));
        }
        assert.equal(await a.get(k), undefined);
      });
      return;
    }

    describe('conditional writes', () => {
      it('says it takes conditions', () => {
        assert.equal(a.acceptsConditions, true);
      });

      it('adds only when absent', async () => {
        const k = key('add');
        const first = await a.set(k, Buffer.from('first'), 60, { kind: 'absent' });
        const second = await a.set(k, Buffer.from('second'), 60, { kind: 'absent' });
        assert.equal(first.applied, true);
        assert.equal(second.applied, false);
        assert.equal((await a.get(k))?.value.toString(), 'first');
      });

      it('treats an expired value as absent for add', async () => {
        const k = key('add-expired');
        await a.set(k, Buffer.from('old'), 1);
        await sleep(2100);
        const out = await a.set(k, Buffer.from('new'), 60, { kind: 'absent' });
        assert.equal(out.applied, true);
        assert.equal((await a.get(k))?.value.toString(), 'new');
      });

      it('treats an expired value as absent for replace and compare-and-set', async () => {
        const k = key('cas-expired');
        const old = await a.set(k, Buffer.from('old'), 1);
        assert.ok(old.applied);
        await sleep(2100);
        assert.equal((await a.set(k, Buffer.from('x'), 60, { kind: 'present' })).applied, false);
        assert.equal((await a.set(k, Buffer.from('y'), 60, { kind: 'version', versions: [old.version] })).applied, false);
        assert.equal(await a.get(k), undefined);
      });

      it('treats a value whose TTL a conditional write shortened as absent once it expired', async () => {
        const k = key('shortened');
        const long = await a.set(k, Buffer.from('long-lived'), 60);
        assert.ok(long.applied);
        assert.ok((await a.set(k, Buffer.from('short'), 1, { kind: 'version', versions: [long.version] })).applied);
        await sleep(2100);
        assert.equal(await a.get(k), undefined);
        assert.equal((await a.set(k, Buffer.from('x'), 60, { kind: 'present' })).applied, false);
        assert.equal((await a.set(k, Buffer.from('new'), 60, { kind: 'absent' })).applied, true);
        assert.equal((await a.get(k))?.value.toString(), 'new');
      });

      it('replaces only when present', async () => {
        const k = key('present');
        assert.equal((await a.set(k, Buffer.from('x'), 60, { kind: 'present' })).applied, false);
        assert.equal(await a.get(k), undefined);
        await a.set(k, Buffer.from('x'), 60);
        assert.equal((await a.set(k, Buffer.from('y'), 60, { kind: 'present' })).applied, true);
        assert.equal((await a.get(k))?.value.toString(), 'y');
      });

      it('compares and sets on the version', async () => {
        const k = key('cas');
        const v1 = await a.set(k, Buffer.from('one'), 60);
        assert.ok(v1.applied);
        const v2 = await a.set(k, Buffer.from('two'), 60, { kind: 'version', versions: [v1.version] });
        assert.ok(v2.applied);
        const stale = await a.set(k, Buffer.from('three'), 60, { kind: 'version', versions: [v1.version] });
        assert.equal(stale.applied, false);
        assert.equal((await a.get(k))?.value.toString(), 'two');
        const anyOf = await a.set(k, Buffer.from('four'), 60, { kind: 'version', versions: ['nope', v2.version] });
        assert.equal(anyOf.applied, true);
      });

      it('fails compare-and-set on an absent key', async () => {
        const k = key('cas-absent');
        // The version the same bytes had under another key: a version names a value of one key only.
        const elsewhere = await b.set(k, Buffer.from('x'), 60);
        const out = await a.set(k, Buffer.from('x'), 60, { kind: 'version', versions: [elsewhere.applied ? elsewhere.version : 'x'] });
        assert.equal(out.applied, false);
        assert.equal(await a.get(k), undefined);
      });

      it('lets exactly one of many concurrent adds win', async () => {
        const k = key('race-add');
        const outcomes = await Promise.all(
          Array.from({ length: 20 }, (_, i) => a.set(k, Buffer.from(`writer ${i}`), 60, { kind: 'absent' })),
        );
        const winners = outcomes.filter((o) => o.applied);
        assert.equal(winners.length, 1);
        const stored = await a.get(k);
        assert.equal(stored?.version, winners[0]!.applied ? winners[0]!.version : undefined);
      });

      it('lets exactly one of many concurrent compare-and-sets on one version win', async () => {
        const k = key('race-cas');
        const base = await a.set(k, Buffer.from('base'), 60);
        assert.ok(base.applied);
        const outcomes = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            a.set(k, Buffer.from(`writer ${i}`), 60, { kind: 'version', versions: [base.version] }),
          ),
        );
        assert.equal(outcomes.filter((o) => o.applied).length, 1);
      });
    });
  });
}

/**
 * What an engine's store offers sealed namespaces beyond the storage interface
 * (EngineStore: deleteAll, relocate), the same on every engine and write mode.
 */
export function engineStoreConformance(engineName: string, open: () => Promise<StorageEngine>, spec: Omit<NamespaceSpec, 'name' | 'table'> = {}): void {
  describe(`engine store conformance: ${engineName}`, () => {
    let engine: StorageEngine;
    let a: EngineStore;
    const key = (label: string): string => `s1:test:${label}:${randomUUID()}`;
    const upper = (value: Buffer): Buffer => Buffer.from(value.toString('utf8').toUpperCase());

    before(async () => {
      engine = await open();
      a = engine.store({ ...CONFORMANCE_NAMESPACES[0], ...spec });
    });
    after(async () => {
      await engine.close();
    });

    it('deleteAll removes every key given, present or not', async () => {
      const [k1, k2, k3] = [key('da1'), key('da2'), key('da3')];
      await a.set(k2, Buffer.from('two'), 60);
      await a.set(k3, Buffer.from('three'), 60);
      await a.deleteAll([k1, k2, k3]);
      for (const k of [k1, k2, k3]) assert.equal(await a.get(k), undefined);
      // The first key takes a write again (a sealed namespace's active copy).
      assert.ok((await a.set(k1, Buffer.from('again'), 60)).applied);
      assert.equal((await a.get(k1))?.value.toString(), 'again');
    });

    it('relocate moves a value, rewritten, with its new lifetime, and removes the old key', async () => {
      const [from, to] = [key('from'), key('to')];
      await a.set(from, Buffer.from('session'), 60);
      const moved = await a.relocate(from, to, upper, 300);
      assert.ok(moved);
      assert.equal(moved.ttl, 300);
      const got = await a.get(to);
      assert.equal(got?.value.toString(), 'SESSION');
      assert.equal(got.version, moved.version, 'the version it reported');
      assert.ok(got.ttl !== null && got.ttl > 290 && got.ttl <= 300, `ttl ${got.ttl}`);
      assert.equal(await a.get(from), undefined, 'the old key is gone');
    });

    it('relocate touches a newer value already under the new key, leaving it as it is, and removes the old key', async () => {
      const [from, to] = [key('from'), key('to')];
      await a.set(from, Buffer.from('old'), 60);
      const newer = await a.set(to, Buffer.from('newer'), 60);
      const moved = await a.relocate(from, to, upper, 300);
      assert.ok(moved && newer.applied);
      assert.equal(moved.version, newer.version);
      const got = await a.get(to);
      assert.equal(got?.value.toString(), 'newer');
      assert.ok(got.ttl !== null && got.ttl > 290, 'touched');
      assert.equal(await a.get(from), undefined);
    });

    it('relocate finds nothing when neither key holds a live value, and writes nothing', async () => {
      const [from, to] = [key('from'), key('to')];
      assert.equal(await a.relocate(from, to, upper, 300), undefined);
      assert.equal(await a.get(to), undefined);
      await a.set(from, Buffer.from('x'), 60);
      await a.deleteAll([to, from]);
      assert.equal(await a.relocate(from, to, upper, 300), undefined, 'after a deleteAll of both');
      assert.equal(await a.get(to), undefined);
    });

    it('relocate leaves both keys as they were when the rewrite refuses the value', async () => {
      const [from, to] = [key('from'), key('to')];
      await a.set(from, Buffer.from('damaged'), 60);
      await assert.rejects(
        a.relocate(from, to, () => {
          throw new Error('does not open');
        }, 300),
      );
      assert.equal((await a.get(from))?.value.toString(), 'damaged');
      assert.equal(await a.get(to), undefined);
    });
  });
}
