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
  readonly now?: () => number;
}

export function readBody(req: IncomingMessage, limit: number, options: BodyOptions): Promise<BodyResult> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) {
    return Promise.resolve({ ok: false, reason: 'too-large' });
  }
  const now = options.now ?? (() => performance.now());
  const { graceMs, minBytesPerSecond } = options.pace;
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const began = now();
    // The body is too slow once it is behind `graceMs + size / minBytesPerSecond`: checked
    // then, not at every chunk; the timer is moved on as long as the body keeps up.
    const due = (): number => began + graceMs + (size / minBytesPerSecond) * 1000;
    let timer: NodeJS.Timeout | undefined;
    const check = (): void => {
      const wait = due() - now();
      if (wait <= 0) return stop({ ok: false, reason: 'too-slow' });
      timer = setTimeout(check, Math.ceil(wait));
    };
    const settle = (result: BodyResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.off('data', onData).off('end', onEnd).off('error', onAbort).off('aborted', onAbort).off('close', onClose);
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
    const onAbort = (): void => settle({ ok: false, reason: 'aborted' });
    const onClose = (): void => {
      if (!req.complete) onAbort();
    };
    req.on('data', onData).on('end', onEnd).on('error', onAbort).on('aborted', onAbort).on('close', onClose);
    if (!settled) timer = setTimeout(check, graceMs);
  });
}
