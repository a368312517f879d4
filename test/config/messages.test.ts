/**
 * Every key of the schema, walked: a value out of range or of the wrong type gets a
 * message in Firkin's words naming the key (and for a number its range and the value),
 * never the validator's own text.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { z } from 'zod';
import { ConfigError } from '../../src/base/config-error.js';
import { parseConfig } from '../../src/config/load.js';
import { configSchema } from '../../src/config/schema.js';

type Schema = z.core.$ZodType;
interface Node {
  readonly path: readonly string[];
  readonly schema: Schema;
}

/** Every key under `schema` (lists as their first entry, records as key `dc1`); a union is a leaf. */
function walk(schema: Schema, path: string[] = []): Node[] {
  const def = schema._zod.def as unknown as Record<string, unknown> & { type: string };
  switch (def.type) {
    case 'optional':
      return walk(def.innerType as Schema, path);
    case 'pipe':
      // A size key (schema.ts size()): text converted to bytes, then the number's own schema.
      if ((def.in as Schema)._zod.def.type === 'transform') return walk(def.out as Schema, path);
      return walk(def.in as Schema, path);
    case 'object':
      return [
        ...(path.length > 0 ? [{ path, schema }] : []),
        ...Object.entries(def.shape as Record<string, Schema>).flatMap(([k, s]) => walk(s, [...path, k])),
      ];
    case 'array':
      return [{ path, schema }, ...walk(def.element as Schema, [...path, '0'])];
    case 'record':
      return [{ path, schema }, ...walk(def.valueType as Schema, [...path, 'dc1'])];
    default:
      return [{ path, schema }];
  }
}

const SHA = '0'.repeat(64);
/** Valid siblings for every key the walk reaches, so the key under test is the only problem. */
const BASE = {
  namespaces: [{ name: 'a', base_uri: '/a/', rate_limit: { requests_per_second: 1 }, tokens: [{ name: 't', sha256: SHA }] }],
  admin: { tokens: [{ name: 't', sha256: SHA }] },
  keyring: { active: 'k', keys: [{ id: 'k', file: '/etc/firkin/k' }] },
};

function withValue(path: readonly string[], value: unknown): unknown {
  const doc = structuredClone(BASE) as Record<string, unknown>;
  let at: Record<string, unknown> = doc;
  path.forEach((k, i) => {
    if (i === path.length - 1) {
      at[k] = value;
      return;
    }
    at[k] ??= /^\d+$/.test(path[i + 1]!) ? [] : {};
    at = at[k] as Record<string, unknown>;
  });
  return doc;
}

const accepted = (path: readonly string[], value: unknown): boolean => configSchema.safeParse(withValue(path, value)).success;

/** The error for the config with `value` at `path`; JSON is YAML. */
function errorFor(path: readonly string[], value: unknown): ConfigError {
  try {
    parseConfig(JSON.stringify(withValue(path, value)), 'walk.yaml');
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err;
  }
  assert.fail(`${path.join('.')}: ${JSON.stringify(value)} was accepted`);
}

/** Words only zod's own messages use ("Invalid input: expected string, received number", "Too big: …"). */
const ZOD_WORDS = /invalid|expected|received|too big|too small|unrecognized|<=|>=/i;

function assertPlain(err: ConfigError, key: string, value: unknown): void {
  assert.equal(err.key, key, err.message);
  assert.ok(err.message.includes(`walk.yaml: ${key}: `), err.message);
  assert.doesNotMatch(err.problem, ZOD_WORDS, `${key} = ${JSON.stringify(value)}: ${err.message}`);
}

const nodes = walk(configSchema as unknown as Schema);
const numeric = nodes.filter((n) => n.schema._zod.def.type === 'number');

describe('config messages: every numeric key says its range and the value', () => {
  it('finds every numeric key of the schema', () => {
    const keys = numeric.map((n) => n.path.join('.'));
    assert.ok(keys.length >= 28, keys.join(', '));
    for (const k of ['listen_port', 'max_value_bytes', 'cassandra.replication.dc1', 'namespaces.0.rate_limit.requests_per_second', 'insight.compare_sample_rate', 'admin.listen_port']) {
      assert.ok(keys.includes(k), `${k} among ${keys.join(', ')}`);
    }
  });

  for (const { path, schema } of numeric) {
    const key = path.join('.');
    it(key, () => {
      const { minValue: min, maxValue: max, isInt } = schema as unknown as { minValue: number; maxValue: number; isInt: boolean };
      assert.ok(Number.isFinite(min) && Number.isFinite(max) && Math.abs(min) < 2 ** 50 && max < 2 ** 50, `${key} declares both bounds`);
      // The schema's own answer decides whether the lower bound is in range (requests_per_second: more than 0).
      const minIncluded = accepted(path, min);
      assert.ok(accepted(path, max), `${key}: ${max} is in range`);
      const range = minIncluded ? `${min}–${max}` : `more than ${min} and at most ${max}`;
      const words = minIncluded ? `between ${min} and ${max}` : `more than ${min} and at most ${max}`;
      const number = isInt ? 'a whole number' : 'a number';

      for (const value of [max + 1, minIncluded ? min - 1 : min]) {
        const err = errorFor(path, value);
        assertPlain(err, key, value);
        assert.match(err.problem, new RegExp(`^must be ${escape(range)}( \\([^)]*\\))?, got ${escape(String(value))}$`), err.message);
      }
      if (isInt) {
        const err = errorFor(path, min + 1.5);
        assertPlain(err, key, min + 1.5);
        assert.match(err.problem, new RegExp(`^must be a whole number ${escape(words)}( \\([^)]*\\))?, got ${escape(String(min + 1.5))}$`), err.message);
      }
      const err = errorFor(path, 'eleven');
      assertPlain(err, key, 'eleven');
      assert.match(err.problem, new RegExp(`^must be ${number} ${escape(words)}( \\([^)]*\\))?, got text$`), err.message);
    });
  }
});

describe('config messages: every key of the wrong type says what it takes', () => {
  it('the base config of this walk is valid', () => assert.ok(configSchema.safeParse(BASE).success));

  for (const { path, schema } of nodes) {
    const key = path.join('.');
    const type = schema._zod.def.type;
    // A value of a type the key never takes.
    const value = type === 'number' ? 'x' : type === 'boolean' ? 12345 : type === 'union' ? [] : type === 'string' || type === 'enum' ? { a: 1 } : 12345;
    it(`${key} (${type})`, () => {
      const err = errorFor(path, value);
      assertPlain(err, key, value);
      assert.match(err.problem, /^must be /, err.message);
    });
  }

  it('never repeats a text value: it may be a secret under the wrong key', () => {
    const err = errorFor(['listen_port'], 'hunter2-secret');
    assert.ok(!err.message.includes('hunter2'), err.message);
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
