export { FirkinClient, type Entry, type FirkinClientOptions, type WriteOptions } from './client.js';
export {
  FirkinError,
  FirkinProtocolError,
  FirkinRejectedError,
  FirkinResponseTooLargeError,
  FirkinTlsError,
  FirkinUnauthorisedError,
  FirkinUnavailableError,
} from './errors.js';
export type { TlsOptions } from './transport.js';
