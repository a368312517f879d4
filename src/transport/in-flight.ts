/**
 * The process's one count of requests being served: namespace requests and
 * truncations (the requests that call the storage engine), each from its admission
 * until its answer has left the process (flushed to the kernel, or the connection is
 * gone) and its handler has finished, its engine call included (exchange.ts counts).
 * `max_in_flight` bounds it, the `firkin_http_requests_in_flight` gauge reports it,
 * and a graceful stop waits for it to reach zero before closing the engine. The
 * service endpoints that do no storage work (health, readiness, metrics, OpenAPI,
 * top keys) are neither counted nor refused. One per process, shared by its listeners.
 */
export class InFlight {
  count = 0;
}
