/**
 * One request at a time per connection. HTTP/1.1 answers pipelined requests in
 * order, so serving them concurrently only stacks up finished responses that the
 * client may never read. Here a connection's next request is handed to the handler
 * only once the previous response has left (its 'close': flushed to the kernel, or
 * the connection is gone); while requests wait, the socket is not read.
 *
 * Node's parser still parses every request in a chunk it has already read (up to
 * 64 KiB), so the queue of parsed requests waiting their turn is capped: a client
 * with more than MAX_PIPELINED requests, or MAX_WAITING_HEAD_BYTES of request
 * heads, waiting is disconnected.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { holdPaused, releaseHold } from '../base/internals.js';

/** Parsed requests a connection may have waiting behind the one being served. */
export const MAX_PIPELINED = 32;
/** Bytes of request heads (URL and header fields) a connection may have waiting. */
export const MAX_WAITING_HEAD_BYTES = 64 * 1024;

type Handler<A extends unknown[]> = (req: IncomingMessage, res: ServerResponse, ...rest: A) => void;

interface Lane {
  busy: boolean;
  /** True while this module holds the socket paused. */
  paused: boolean;
  readonly waiting: Array<() => void>;
  /** Bytes of the heads of the waiting requests. */
  waitingBytes: number;
}

/** Each connection's lane, kept beside the socket (a property on it would change the shape of Node's sockets). */
const lanes = new WeakMap<Socket, Lane>();

/**
 * Wrap `handler` so that each connection is served one request at a time, in order.
 * `maxWaitingHeadBytes` (default MAX_WAITING_HEAD_BYTES) must be at least the server's
 * request-head limit, or a single long request could never wait its turn.
 */
export function oneAtATime<A extends unknown[]>(
  handler: Handler<A>,
  { maxWaitingHeadBytes = MAX_WAITING_HEAD_BYTES }: { maxWaitingHeadBytes?: number } = {},
): Handler<A> {
  return (req, res, ...rest) => {
    const socket = req.socket;
    let lane = lanes.get(socket);
    if (lane === undefined) {
      lane = { busy: false, paused: false, waiting: [], waitingBytes: 0 };
      lanes.set(socket, lane);
    }
    if (!lane.busy) {
      lane.busy = true;
      return serveInLane(handler, req, res, rest);
    }
    const bytes = headBytes(req);
    if (lane.waiting.length >= MAX_PIPELINED || lane.waitingBytes + bytes > maxWaitingHeadBytes) {
      socket.destroy();
      return;
    }
    lane.waitingBytes += bytes;
    lane.waiting.push(() => {
      lane.waitingBytes -= bytes;
      serveInLane(handler, req, res, rest);
    });
    if (!lane.paused) hold(socket, lane);
  };
}

/** Serve a request of the lane's connection; its answer's close passes the lane on. */
function serveInLane<A extends unknown[]>(handler: Handler<A>, req: IncomingMessage, res: ServerResponse, rest: A): void {
  handler(req, res, ...rest);
  // After the handler's own 'close' listener: its slot is free before the next request takes one.
  res.on('close', laneClosed);
}

/**
 * A response's 'close' (emitted once, so `on`, without `once`'s wrapper): its connection's
 * next request, if one waits. One function for every response, not a closure each.
 */
function laneClosed(this: ServerResponse): void {
  const socket = this.req.socket;
  const lane = lanes.get(socket);
  if (lane !== undefined) next(socket, lane);
}

/**
 * Stop reading the socket while requests wait their turn. Node's HTTP server resumes a
 * socket itself, so a plain pause() would not last: base/internals.ts holds it.
 */
function hold(socket: Socket, lane: Lane): void {
  lane.paused = true;
  holdPaused(socket);
}

function release(socket: Socket, lane: Lane): void {
  lane.paused = false;
  releaseHold(socket); // reads on, unless Node holds it paused itself (its write buffer is full: it resumes on 'drain')
}

function next(socket: Socket, lane: Lane): void {
  const run = lane.waiting.shift();
  // After a `Connection: close` answer (a 413, or while draining) Node attaches no further
  // response to the socket: those requests are dropped, never run (their 'close' would never come).
  if (run !== undefined && !socket.destroyed && socket.writable) {
    // The last waiting request's body may still be on its way: read on before serving it.
    if (lane.waiting.length === 0 && lane.paused) release(socket, lane);
    return run();
  }
  lane.waiting.length = 0;
  lane.waitingBytes = 0;
  lane.busy = false;
  if (lane.paused) release(socket, lane);
}

function headBytes(req: IncomingMessage): number {
  let n = req.url?.length ?? 0;
  for (const field of req.rawHeaders) n += field.length + 2;
  return n;
}
