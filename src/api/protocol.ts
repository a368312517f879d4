/** Constants of the HTTP contract shared by the handler, the endpoints and the OpenAPI document. */

export const ALLOWED_METHODS = 'GET, HEAD, PUT, POST, DELETE, PATCH';
/** Methods the service endpoints (/healthz, /metrics…) answer. */
export const ENDPOINT_METHODS = 'GET, HEAD';
/** Seconds a client should wait before retrying after a 503. */
export const RETRY_AFTER_SECONDS = '1';
/** The response header carrying a value's remaining lifetime in seconds. */
export const TTL_HEADER = 'X-TTL';
