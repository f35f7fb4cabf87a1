// Public surface of net/: address sets (CIDR), address normalisation, the buffers request bodies travel in, and writes
// held for the end of the event loop's turn.
export { addressFromBytes, normaliseAddress, parseCidr, createCidrSet } from './cidr.ts'
export { copyChunk, copyView, releaseChunk, releaseOnWrite, pooledFree } from './body-buffers.ts'
export { atEndOfTurn, type Deferred } from './end-of-turn.ts'
