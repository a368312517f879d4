export { FirkinStore, type FirkinStoreOptions, type Serializer } from './store.js';
