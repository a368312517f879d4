export { FirkinClient, type Entry, type FirkinClientOptions, type WriteOptions } from './client.js';
export {
  FirkinError,
  FirkinRejectedError,
  FirkinResponseTooLargeError,
  FirkinTlsError,
  FirkinUnauthorisedError,
  FirkinUnavailableError,
} from './errors.js';
export type { TlsOptions } from './transport.js';
