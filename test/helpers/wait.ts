import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Poll `check` until it holds; fail the test with "timed out waiting for `what`" after
 * `ms`. Every wait in the tests has a deadline, so a failure cannot hang a test file.
 */
export async function until(check: () => boolean | Promise<boolean>, what: string, ms = 5000, everyMs = 50): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** Whether `probe` resolves to true; false if it rejects (e.g. connection refused while a process starts). */
export function holds(probe: () => Promise<boolean>): Promise<boolean> {
  return probe().catch(() => false);
}
