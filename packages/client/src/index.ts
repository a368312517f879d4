export { FirkinClient, type Entry, type FirkinClientOptions, type WriteOptions } from './client.js';
export { FirkinError, FirkinRejectedError, FirkinUnauthorisedError, FirkinUnavailableError } from './errors.js';
export type { TlsOptions } from './transport.js';
