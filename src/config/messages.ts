/**
 * Config errors in Firkin's words: every problem the schema finds becomes one
 * phrase saying what the key takes, never the validator's own text ("Too big:
 * expected number to be <=16777216"). A numeric key says its whole range and the
 * value it got, read from the schema itself, so a new numeric key needs nothing
 * here. Only numbers are repeated back: a text value may be a misplaced secret.
 */
import type { z } from 'zod';
import { zodDefinition } from '../base/internals.js';

type RawIssue = z.core.$ZodRawIssue;

/** The error map for configSchema.safeParse: a message for every issue the schema's own words do not cover. */
export function plainWords(issue: RawIssue): string {
  const numeric = numberProblem(issue);
  if (numeric !== undefined) return numeric;
  const { input } = issue;
  switch (issue.code) {
    case 'invalid_type':
      if (input === undefined) return 'is required';
      return `must be ${TYPE_WORDS[issue.expected] ?? issue.expected}, got ${kindOf(input)}`;
    case 'too_small':
      if (issue.origin === 'string') return issue.minimum === 1 ? 'must not be empty' : `must be at least ${issue.minimum} characters long`;
      if (issue.origin === 'array') return `must list at least ${issue.minimum} ${issue.minimum === 1 ? 'entry' : 'entries'}`;
      return `must be at least ${issue.minimum}`;
    case 'too_big':
      if (issue.origin === 'string') return `must be at most ${issue.maximum} characters long`;
      if (issue.origin === 'array') return `must list at most ${issue.maximum} entries`;
      return `must be at most ${issue.maximum}`;
    case 'invalid_value':
      return `must be one of ${issue.values.map(String).join(', ')}`;
    case 'invalid_format':
      return 'is not in the form this key takes';
    case 'not_multiple_of':
      return `must be a multiple of ${issue.divisor}`;
    case 'invalid_union': {
      // None of the forms takes this type of value: name them all ("text or a mapping").
      const expected = issue.errors.map(([first]) => (first?.code === 'invalid_type' && first.path.length === 0 ? first.expected : undefined));
      if (expected.length > 0 && expected.every((t) => t !== undefined)) {
        return `must be ${expected.map((t) => TYPE_WORDS[t] ?? t).join(' or ')}, got ${kindOf(input)}`;
      }
      return 'is not a value this key takes';
    }
    case 'invalid_key':
      return 'has a key name that is not allowed here';
    case 'unrecognized_keys':
      return 'unknown key';
    default:
      return 'is not a value this key takes';
  }
}

const TYPE_WORDS: Readonly<Record<string, string>> = {
  string: 'text',
  boolean: 'true or false',
  array: 'a list',
  object: 'a mapping of keys to values',
  record: 'a mapping of keys to values',
  number: 'a number',
  int: 'a whole number',
};

/** What a value is, in words, without repeating text (which may be a secret put under the wrong key). */
function kindOf(value: unknown): string {
  if (value === undefined || value === null) return 'nothing';
  if (typeof value === 'string') return 'text';
  if (typeof value === 'boolean') return String(value);
  if (typeof value === 'number') return 'a number';
  if (Array.isArray(value)) return 'a list';
  return 'a mapping';
}

/** A numeric key's bounds as its schema declares them. */
export interface NumberRange {
  readonly whole: boolean;
  readonly min: number | undefined;
  readonly minInclusive: boolean;
  readonly max: number | undefined;
  readonly maxInclusive: boolean;
}

/** The range of a z.number() / z.int() schema, or undefined for any other schema. */
export function numberRange(schema: z.core.$ZodType | undefined): NumberRange | undefined {
  const def = zodDefinition(schema);
  if (def?.type !== 'number') return undefined;
  let range: NumberRange = { whole: def.format !== undefined && /int/.test(def.format), min: undefined, minInclusive: true, max: undefined, maxInclusive: true };
  for (const { _zod } of def.checks ?? []) {
    const { check, value, inclusive = true } = _zod.def;
    if (typeof value !== 'number') continue;
    if (check === 'greater_than') range = { ...range, min: value, minInclusive: inclusive };
    if (check === 'less_than') range = { ...range, max: value, maxInclusive: inclusive };
  }
  return range;
}

/** `0–65535`, `more than 0 and at most 1000000`. */
function span(r: NumberRange): string {
  if (r.min !== undefined && r.max !== undefined && r.minInclusive && r.maxInclusive) return `${r.min}–${r.max}`;
  return between(r);
}

/** `between 0 and 65535`, `more than 0 and at most 1000000`. */
function between(r: NumberRange): string {
  if (r.min !== undefined && r.max !== undefined && r.minInclusive && r.maxInclusive) return `between ${r.min} and ${r.max}`;
  const parts = [
    r.min === undefined ? undefined : `${r.minInclusive ? 'at least' : 'more than'} ${r.min}`,
    r.max === undefined ? undefined : `${r.maxInclusive ? 'at most' : 'less than'} ${r.max}`,
  ].filter((p) => p !== undefined);
  return parts.join(' and ');
}

/** A numeric key's problem: its range (and what the bound means, from the schema's description) and the value given. */
function numberProblem(issue: RawIssue): string | undefined {
  const schema = issue.schema;
  const r = numberRange(schema);
  if (r === undefined) return undefined;
  const description = (schema as { description?: string }).description;
  const note = description === undefined ? '' : ` (${description})`;
  const input = issue.input;
  const fits = typeof input === 'number' && Number.isFinite(input) && (!r.whole || Number.isInteger(input));
  const bounds = between(r);
  if (fits) return `must be ${span(r)}${note}, got ${input}`;
  const what = r.whole ? 'a whole number' : 'a number';
  const got = typeof input === 'number' ? String(input) : kindOf(input);
  if (input === undefined) return `is required: ${what}${bounds ? ` ${bounds}` : ''}${note}`;
  return `must be ${what}${bounds ? ` ${bounds}` : ''}${note}, got ${got}`;
}
