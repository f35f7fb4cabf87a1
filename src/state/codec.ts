// msgpackr for state values. `encode`/`decode` share one Packr per process; createCodec() makes a separate one.
import { Packr } from 'msgpackr'

export interface Codec {
  encode (value: unknown): Uint8Array
  decode (bytes: Uint8Array): unknown
}

/**
 * A codec over one reused Packr. Records (`useRecords`) are off: values are read by processes of other versions
 * and other hosts, and record structures are per-Packr state that a reader would not have.
 */
export function createCodec (): Codec {
  const packr = new Packr({ useRecords: false, moreTypes: false })
  return {
    encode: (value) => packr.pack(value),
    decode: (bytes) => packr.unpack(bytes)
  }
}

// The one module-level object in state/: with records off, a Packr carries nothing from one call to the next but its
// reusable output buffer, so sharing it is safe and saves an allocation per value.
const shared = createCodec()
export const encode = shared.encode
export const decode = shared.decode
