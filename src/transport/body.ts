/**
 * Reading a request body into memory, never past the limit: a declared
 * Content-Length over the limit is refused before a byte is read, and a chunked
 * body is cut off as soon as it crosses the limit.
 *
 * A body must keep arriving: after a grace period, at least `minBytesPerSecond`
 * on average since it was asked for, else it is given up (`too-slow`), so that a
 * client trickling a byte a second cannot hold its connection and its memory for
 * the whole request timeout. Each chunk takes its bytes from the process's budget of
 * bodies being received (`take`), so that the bodies of many connections cannot
 * outgrow the memory bound however many connections send at once (`overloaded`).
 */
import type { IncomingMessage } from 'node:http';
import type { BodyResult } from '../base/request.js';

export interface BodyPace {
  /** From the moment the body is asked for, how long before it must show progress. */
  readonly graceMs: number;
  /** After the grace period, the least average rate (bytes a second, since the body was asked for). */
  readonly minBytesPerSecond: number;
}

export interface BodyOptions {
  readonly pace: BodyPace;
  /** Reserve `bytes` of the budget for bodies being received; false if they do not fit. */
  readonly take: (bytes: number) => boolean;
}

/**
 * How often the bodies being received are checked against their pace: one timer for all
 * of them, running only while there are some (a timer per body, set and cleared on every
 * write, cost more than the rest of reading a small body, issue 24). A body too slow is
 * given up at most this much after it fell behind.
 */
export const PACE_CHECK_MS = 250;

interface Paced {
  /** When the body is behind its pace (performance.now() time). */
  due(): number;
  tooSlow(): void;
}

const receiving = new Set<Paced>();
let sweeper: NodeJS.Timeout | undefined;

function sweep(): void {
  const now = performance.now();
  // A body given up leaves the set while it is walked, which a Set allows.
  for (const body of receiving) if (body.due() <= now) body.tooSlow();
  if (receiving.size === 0) {
    clearInterval(sweeper);
    sweeper = undefined;
  }
}

function watch(body: Paced): void {
  receiving.add(body);
  if (sweeper === undefined) {
    sweeper = setInterval(sweep, PACE_CHECK_MS);
    sweeper.unref();
  }
}

/** Bodies being received now (for tests). */
export function bodiesReceiving(): number {
  return receiving.size;
}

export function readBody(req: IncomingMessage, limit: number, options: BodyOptions): Promise<BodyResult> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) {
    return Promise.resolve({ ok: false, reason: 'too-large' });
  }
  const { graceMs, minBytesPerSecond } = options.pace;
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const began = performance.now();
    // The body is too slow once it is behind `graceMs + size / minBytesPerSecond` since it was asked for.
    const paced: Paced = {
      due: () => began + graceMs + (size / minBytesPerSecond) * 1000,
      tooSlow: () => stop({ ok: false, reason: 'too-slow' }),
    };
    const settle = (result: BodyResult): void => {
      if (settled) return;
      settled = true;
      receiving.delete(paced);
      req.off('data', onData).off('end', onEnd).off('close', onClose);
      resolve(result);
    };
    // Given up while the client is still sending: stop reading (the answer closes the connection).
    const stop = (result: BodyResult): void => {
      req.pause();
      settle(result);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) return stop({ ok: false, reason: 'too-large' });
      if (!options.take(chunk.length)) return stop({ ok: false, reason: 'overloaded' });
      chunks.push(chunk);
    };
    const onEnd = (): void => settle({ ok: true, body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size) });
    // A request that closes before its end was aborted (destroyed: its client went away).
    // A complete one has settled at its end, which comes before its close. (No 'error'
    // listener: an IncomingMessage emits 'error' only to listeners, and always closes after it.)
    const onClose = (): void => settle({ ok: false, reason: 'aborted' });
    if (req.destroyed) return settle({ ok: false, reason: 'aborted' });
    req.on('data', onData).on('end', onEnd).on('close', onClose);
    watch(paced);
  });
}
