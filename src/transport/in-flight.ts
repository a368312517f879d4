/**
 * The process's one count of requests being served: each from its arrival until its
 * answer has left the process (flushed to the kernel, or the connection is gone) and
 * its handler has finished (listener.ts counts). `max_in_flight` bounds it (service
 * endpoints are counted but never refused), the `firkin_http_requests_in_flight`
 * gauge reports it, and a graceful stop waits for it to reach zero before closing
 * the engine. One per process, shared by its listeners.
 */
export class InFlight {
  count = 0;
}
