/**
 * Every key that holds a number of bytes takes the same sizes: a whole number of bytes
 * (plain integers keep working), or text with a decimal or binary unit (`20MiB`, `100MB`,
 * `1.5 GiB`), checked against the key's range once converted, and a refusal that says
 * the range and the value as written.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { z } from 'zod';
import { ConfigError } from '../../src/base/config-error.js';
import { parseConfig } from '../../src/config/load.js';
import { configSchema, parseSize } from '../../src/config/schema.js';

type Schema = z.core.$ZodType;

/** Every key of the schema with its leaf schema, size keys (a text-to-bytes pipe) marked. */
function keys(schema: Schema, path: string[] = []): { key: string; size: boolean; description: string | undefined }[] {
  const def = schema._zod.def as unknown as Record<string, unknown> & { type: string };
  switch (def.type) {
    case 'optional':
      return keys(def.innerType as Schema, path);
    case 'object':
      return Object.entries(def.shape as Record<string, Schema>).flatMap(([k, s]) => keys(s, [...path, k]));
    case 'array':
      return keys(def.element as Schema, [...path, '0']);
    case 'pipe': {
      const size = (def.in as Schema)._zod.def.type === 'transform';
      const out = def.out as Schema & { description?: string };
      return [{ key: path.join('.'), size, description: size ? out.description : undefined }];
    }
    default:
      return [{ key: path.join('.'), size: false, description: (schema as { description?: string }).description }];
  }
}

const SIZE_KEYS = ['embedded.max_size', 'max_value_bytes', 'max_key_bytes', 'max_buffered_bytes'];
/** Each size key, a YAML document setting it to `value`, and what its resolved config holds. */
const set = (key: string, value: string): string =>
  key.includes('.')
    ? `${key.split('.')[0]}:\n  ${key.split('.')[1]}: ${value}\n`
    : // max_buffered_bytes must be at least max_value_bytes (1 MiB by default): small sizes need a smaller one.
      `${key === 'max_buffered_bytes' ? 'max_value_bytes: 1\n' : ''}${key}: ${value}\n`;
const resolved = (key: string, value: string): number => {
  const c = parseConfig(set(key, value), 'sizes.yaml');
  const read: Record<string, number | undefined> = {
    'embedded.max_size': c.embedded.maxSize,
    max_value_bytes: c.maxValueBytes,
    max_key_bytes: c.maxKeyBytes,
    max_buffered_bytes: c.maxBufferedBytes,
  };
  return read[key]!;
};
const refusal = (key: string, value: string): ConfigError => {
  try {
    parseConfig(set(key, value), 'sizes.yaml');
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err;
  }
  assert.fail(`${key}: ${value} was accepted`);
};

describe('sizes', () => {
  it('every key that holds bytes takes units, and no other key does', () => {
    const all = keys(configSchema as unknown as Schema);
    assert.deepEqual(all.filter((k) => k.size).map((k) => k.key).sort(), [...SIZE_KEYS].sort());
    // A key named for bytes or a size, or described in bytes, is a size key (insight.sketch_size counts entries).
    const byName = all.filter((k) => /_bytes$|max_size$/.test(k.key) || /^bytes\b/.test(k.description ?? '')).map((k) => k.key);
    assert.deepEqual(byName.sort(), [...SIZE_KEYS].sort());
  });

  for (const key of SIZE_KEYS) {
    it(`${key}: bytes as a number or as text, and decimal and binary units in any case`, () => {
      // Values inside every key's range (max_key_bytes: at most 1900 on the embedded engine).
      const small = key === 'embedded.max_size' ? 1 : 0;
      const cases: [string, number][] = small
        ? [
            ['2097152', 2 ** 21],
            ['"2097152"', 2 ** 21],
            ['2MiB', 2 ** 21],
            ['2 mib', 2 ** 21],
            ['"1.5 GiB"', 1.5 * 2 ** 30],
            ['100MB', 100e6],
            ['2GB', 2e9],
            ['1TiB', 2 ** 40],
          ]
        : [
            ['1000', 1000],
            ['"1000"', 1000],
            ['1000B', 1000],
            ['1KiB', 1024],
            ['1kib', 1024],
            ['1.5KiB', 1536],
            ['1kB', 1000],
            ['1KB', 1000],
          ];
      for (const [value, bytes] of cases) assert.equal(resolved(key, value), bytes, `${key}: ${value}`);
    });

    it(`${key}: refuses what is no size, and a size out of range names the range and the value as written`, () => {
      for (const bad of ['4G', '-1MiB', 'lots', '"1.5"', '2 parsecs', '""']) {
        const err = refusal(key, bad);
        assert.equal(err.key, key, `${bad}: ${err.message}`);
        assert.match(err.problem, /^must be /, `${bad}: ${err.message}`);
      }
      const err = refusal(key, '20TiB');
      assert.match(err.problem, /^must be \d+–\d+ \(bytes, or a size such as [^)]*\), got 20TiB \(21990232555520 bytes\)$/, err.message);
    });
  }

  it('max_value_bytes: 20MiB is refused by its range (Cassandra takes at most 16 MiB), not by its form; 16MiB is taken', () => {
    const err = refusal('max_value_bytes', '20MiB');
    assert.equal(err.problem, 'must be 1–16777216 (bytes, or a size such as 512KiB; at most 16 MiB: Cassandra refuses larger writes), got 20MiB (20971520 bytes)');
    assert.equal(resolved('max_value_bytes', '16MiB'), 16 * 2 ** 20);
    assert.equal(resolved('max_value_bytes', '512KiB'), 512 * 1024);
  });

  it('the cross-key rules see the converted bytes', () => {
    assert.throws(() => parseConfig('max_value_bytes: 8MiB\nmax_buffered_bytes: 4MiB\n', 'sizes.yaml'), /max_buffered_bytes: must be at least max_value_bytes/);
    assert.equal(parseConfig('max_value_bytes: 8MiB\nmax_buffered_bytes: 8MiB\n', 'sizes.yaml').maxBufferedBytes, 8 * 2 ** 20);
    assert.throws(() => parseConfig('max_key_bytes: 2KiB\n', 'sizes.yaml'), /max_key_bytes: must be 1–1900 on the embedded engine/);
    assert.equal(parseConfig('storage: cassandra\ncassandra: {hosts: [a]}\nmax_key_bytes: 4KiB\n', 'sizes.yaml').maxKeyBytes, 4096);
  });

  it('parseSize: text to bytes', () => {
    assert.equal(parseSize('20MiB'), 20 * 2 ** 20);
    assert.equal(parseSize(' 3 GB '), 3e9);
    assert.equal(parseSize('0.1MiB'), Math.floor(0.1 * 2 ** 20), 'a fraction of a unit is rounded down to whole bytes');
    assert.equal(parseSize('1.5'), 1.5, 'a fraction of a byte is left to be refused');
    for (const bad of ['', 'MiB', '1 M', '1e3', '-1', '1,000']) assert.equal(parseSize(bad), undefined, bad);
  });
});
