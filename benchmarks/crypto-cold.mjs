#!/usr/bin/env node
// What a node:crypto call costs in a server, where every request walks through megabytes of
// other memory between two calls: each call measured warm (called again and again, as a
// micro-benchmark does) and cold (after touching 16 MiB, as between two requests).
// docs/benchmarks.md ("Cold calls into node:crypto") quotes its output.
//
//   node benchmarks/crypto-cold.mjs [rounds]
import { createCipheriv, createDecipheriv, createHmac, hash, randomBytes, randomUUID } from 'node:crypto';
import { runOnPrimaryNode } from '../scripts/node-runtime.mjs';

await runOnPrimaryNode(import.meta.url);
const rounds = Number(process.argv[2] ?? 2000);
const key = randomBytes(32);
const iv = randomBytes(12);
const aad = randomBytes(40);
const shortInput = Buffer.from(`prefix-sessions\u0000enwiki:MWSession:${'0123456789abcdef'.repeat(2)}`);
const value = randomBytes(1536);
const versionInput = randomBytes(1900);
const ipad = Buffer.alloc(64, 0x36);
const opad = Buffer.alloc(64, 0x5c);
const sealer = createCipheriv('aes-256-gcm', key, iv);
sealer.setAAD(aad);
const sealed = Buffer.concat([sealer.update(value), sealer.final()]);
const tag = sealer.getAuthTag();

const CALLS = {
  'crypto.hash sha256, 60 B (a key hash)': () => hash('sha256', shortInput, 'binary'),
  'crypto.hash sha256, 1.9 KB (a keyed version)': () => hash('sha256', versionInput, 'binary'),
  'HMAC-SHA-256 of 60 B as two crypto.hash calls': () => hash('sha256', Buffer.concat([opad, Buffer.from(hash('sha256', Buffer.concat([ipad, shortInput]), 'binary'), 'latin1')]), 'binary'),
  'createHmac sha256, 60 B': () => createHmac('sha256', key).update(shortInput).digest(),
  'AES-256-GCM open of 1.5 KiB (createDecipheriv, setAAD, setAuthTag, update, final)': () => {
    const d = createDecipheriv('aes-256-gcm', key, iv);
    d.setAAD(aad);
    d.setAuthTag(tag);
    d.update(sealed);
    d.final();
  },
  randomUUID: () => randomUUID(),
  // Controls: what the same walk does to calls that are not node:crypto's.
  'control: nothing (the clock read alone)': () => undefined,
  'control: Buffer.concat of two 64 B buffers': () => Buffer.concat([ipad, opad]),
  'control: a JavaScript loop over 1.9 KB': () => {
    let x = 0;
    for (let i = 0; i < versionInput.length; i++) x = (x * 31 + versionInput[i]) | 0;
    return x;
  },
};

// Other memory, walked between two cold calls: what the requests in between do to the caches.
const other = new Uint8Array(16 * 1024 * 1024);
let sink = 0;
const evict = () => {
  for (let i = 0; i < other.length; i += 64) sink += other[i]++;
};
const timed = (fn) => {
  const t = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t) / 1000;
};
const median = (xs) => xs.sort((a, b) => a - b)[xs.length >> 1];

console.log(`Node.js ${process.version}, ${rounds} calls each; median µs per call`);
console.log('| call | warm | cold |\n|---|---|---|');
for (const [name, fn] of Object.entries(CALLS)) {
  for (let i = 0; i < 1000; i++) fn();
  const warm = [];
  const cold = [];
  for (let i = 0; i < rounds; i++) warm.push(timed(fn));
  for (let i = 0; i < rounds; i++) {
    evict();
    cold.push(timed(fn));
  }
  console.log(`| ${name} | ${median(warm).toFixed(2)} | ${median(cold).toFixed(2)} |`);
}
if (sink === -1) console.log(sink); // keeps the walk from being optimised away
