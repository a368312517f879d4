// A node:test reporter for scripts/run-files.mjs: one JSON line per event that tells which
// tests run and how they ended, written as the events arrive (node:test streams them from
// the test file's process), so that a file killed for running too long still says which
// test was running. `test:dequeue` comes when a test starts executing; `test:complete` when
// it has finished (in the order they finish); `test:pass` and `test:fail` in reporting order,
// with the outcome (skip, todo) used for the counts, and a failure's reason (`error`) and
// kind (`failureType`) for the recap. `id` and `parent` (Node.js 24's testId and parentId;
// absent on older ones) tie a test to its suite. `own` is false for the events of the whole
// file, which the `node --test` process itself reports around those of the file's tests.
/** The first 8 lines (at most 1 000 characters) of why a test failed: an assertion's message, not node:test's wrapper. */
function reason(error) {
  const inner = error?.cause ?? error;
  const text = typeof inner?.message === 'string' ? inner.message : typeof inner === 'string' ? inner : JSON.stringify(inner) ?? 'failed';
  return text.split('\n').slice(0, 8).join('\n').slice(0, 1000);
}

export default async function* progress(source) {
  for await (const { type, data } of source) {
    if (!['test:dequeue', 'test:complete', 'test:pass', 'test:fail'].includes(type)) continue;
    yield `${JSON.stringify({
      type,
      name: data.name,
      nesting: data.nesting,
      id: data.testId,
      parent: data.parentId,
      own: data.entryFile !== undefined || data.testId === undefined,
      line: data.line,
      column: data.column,
      kind: data.details?.type,
      skip: data.skip !== undefined && data.skip !== false,
      todo: data.todo !== undefined && data.todo !== false,
      // A failed test's reason, for the recap at the end of a run (the first lines of it).
      error: type === 'test:fail' ? reason(data.details?.error) : undefined,
      // Why node:test says it failed: its own code, a hook, its subtests, or cancelled with its suite.
      failureType: type === 'test:fail' ? data.details?.error?.failureType : undefined,
    })}\n`;
  }
}
