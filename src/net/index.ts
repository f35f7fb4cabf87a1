// Public surface of net/: address sets (CIDR), address normalisation, and the buffers request bodies travel in.
export { addressFromBytes, normaliseAddress, parseCidr, createCidrSet } from './cidr.ts'
export { copyChunk, copyView, releaseChunk, releaseOnWrite, pooledFree } from './body-buffers.ts'
