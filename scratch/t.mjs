import { open } from 'lmdb';
import { rmSync } from 'node:fs';
rmSync('/tmp/t3', {recursive:true, force:true});
const root = open({ path: '/tmp/t3/db.mdb', maxDbs: 16, separateFlushed: true });
const db = root.openDB('ns/default');
const q = db.transaction(() => { db.put('a', [1]); return 5; });
console.log(typeof q.flushed, q.flushed && typeof q.flushed.then);
console.log(await q, typeof root.flushed.then);
const r = db.transaction(() => { throw new Error('boom'); });
try { await r; } catch (e) { console.log('rejected', e.message); }
await root.close();
