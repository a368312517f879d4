/**
 * New request IDs (for requests that bring none of their own): UUIDs of RFC 9562's
 * version 8 (a layout of the maker's own; 8-4-4-4-12 lower-case hex, the RFC's
 * variant), whose first four groups are random, drawn once per process (74 random
 * bits), and whose last group counts the IDs the process has made. Unique within the
 * process, and across processes and restarts but for a chance of 2^-74 per pair of
 * processes. One string joined per request instead of `randomUUID()`'s twenty
 * (its 700 bytes of garbage were a tenth of Firkin's above the floor per GET, issue 24).
 * Not secret, and not meant to be: a request ID is echoed to its client and logged;
 * two IDs a client was given tell it how many others the process made in between.
 */
import { randomBytes } from 'node:crypto';

/** Requests numbered under one prefix (the last group's 12 hex digits) before a new one is drawn. */
const PER_PREFIX = 2 ** 48;

let prefix = '';
let counter = PER_PREFIX;

function drawPrefix(): void {
  const hex = randomBytes(10).toString('hex');
  // 15 random hex digits, then the variant's (two random bits), then 3 more: 74 random bits.
  const variant = '89ab'[Number.parseInt(hex[15]!, 16) & 3]!;
  prefix = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(12, 15)}-${variant}${hex.slice(16, 19)}-`;
  counter = 0;
}

export function newRequestId(): string {
  if (counter >= PER_PREFIX) drawPrefix();
  return prefix + (counter++).toString(16).padStart(12, '0');
}
