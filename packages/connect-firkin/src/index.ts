export { FirkinStore, type FirkinStoreClient, type FirkinStoreOptions, type Serializer } from './store.js';
