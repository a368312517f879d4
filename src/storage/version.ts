import { hash } from 'node:crypto';
import type { Condition } from './engine.js';

/**
 * The version of a value is derived from its bytes: the first 128 bits of its
 * SHA-256, base64url. Every engine computes it the same way, so a value written
 * by Kask (which stores no version) has one too, and the ETag a client sees does
 * not depend on which engine or data centre served it.
 */
export function valueVersion(value: Uint8Array): string {
  // One-shot hash: a quarter cheaper than a Hash object for a session-sized value.
  return hash('sha256', value, 'buffer').subarray(0, 16).toString('base64url');
}

/** Whether a write's condition holds for the current live version (undefined: no live value). */
export function conditionHolds(condition: Condition | undefined, currentVersion: string | undefined): boolean {
  if (condition === undefined) return true;
  switch (condition.kind) {
    case 'absent':
      return currentVersion === undefined;
    case 'present':
      return currentVersion !== undefined;
    case 'version':
      return currentVersion !== undefined && condition.versions.includes(currentVersion);
  }
}
