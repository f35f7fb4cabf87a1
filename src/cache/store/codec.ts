// The cache entry envelope in the shared level: one format-version byte, then a msgpack array of the entry's fields
// and the time the stored copy expires. A reader that meets another version (or garbage) reads a miss.
import { Packr } from 'msgpackr'
import type { CacheEntry } from './types.ts'

/** Bumped on any layout change: entries written by other versions then read as misses and are refetched. */
export const CACHE_FORMAT_VERSION = 1

/** A decoded envelope: the entry and when the stored copy expires (wall clock, ms). */
export interface StoredEntry {
  readonly entry: CacheEntry
  readonly expiresAt: number
}

export interface EntryCodec {
  encode (entry: CacheEntry, expiresAt: number): Uint8Array
  /** undefined for another format version, a truncated value or anything that is not an envelope. */
  decode (bytes: Uint8Array): StoredEntry | undefined
  /** Any small value (purge messages): plain msgpack, no version byte. */
  pack (value: unknown): Uint8Array
  unpack (bytes: Uint8Array): unknown
}

const MUST_REVALIDATE = 1
const NO_CACHE = 2

/**
 * One Packr per codec (make one per store). Records are off: envelopes are read by other versions on other hosts.
 * The body comes back as a view into `bytes`, not a copy.
 */
export function createEntryCodec (): EntryCodec {
  const packr = new Packr({ useRecords: false, moreTypes: false })
  return {
    encode (e, expiresAt) {
      const flags = (e.mustRevalidate ? MUST_REVALIDATE : 0) | (e.noCache ? NO_CACHE : 0)
      const packed = packr.pack([
        expiresAt, e.status, e.headers, e.body, e.requestTime, e.responseTime, e.initialAgeMs, e.lifetimeMs,
        e.swrMs, e.sieMs, flags, e.etag ?? null, e.lastModified ?? null, e.tags, e.vary, e.url
      ])
      // A copy either way: packr reuses its output buffer, and the version byte goes in front.
      const out = new Uint8Array(packed.byteLength + 1)
      out[0] = CACHE_FORMAT_VERSION
      out.set(packed, 1)
      return out
    },
    decode (bytes) {
      if (bytes.byteLength < 2 || bytes[0] !== CACHE_FORMAT_VERSION) return undefined
      let a: unknown
      try { a = packr.unpack(bytes.subarray(1)) } catch { return undefined }
      if (!Array.isArray(a) || a.length !== 16) return undefined
      const [expiresAt, status, headers, body, requestTime, responseTime, initialAgeMs, lifetimeMs, swrMs, sieMs, flags, etag, lastModified, tags, vary, url] = a as unknown[]
      if (typeof expiresAt !== 'number' || typeof status !== 'number' || !(body instanceof Uint8Array) || typeof url !== 'string' ||
        !isStrings(headers) || !isStrings(tags) || !isStrings(vary) || typeof flags !== 'number' ||
        typeof requestTime !== 'number' || typeof responseTime !== 'number' || typeof initialAgeMs !== 'number' ||
        typeof lifetimeMs !== 'number' || typeof swrMs !== 'number' || typeof sieMs !== 'number' ||
        !(etag === null || typeof etag === 'string') || !(lastModified === null || typeof lastModified === 'string')) return undefined
      const entry: CacheEntry = {
        status,
        headers,
        body,
        requestTime,
        responseTime,
        initialAgeMs,
        lifetimeMs,
        swrMs,
        sieMs,
        mustRevalidate: (flags & MUST_REVALIDATE) !== 0,
        noCache: (flags & NO_CACHE) !== 0,
        etag: etag ?? undefined,
        lastModified: lastModified ?? undefined,
        tags,
        vary,
        url
      }
      return { entry, expiresAt }
    },
    pack (value) { return packr.pack(value).slice() },
    unpack (bytes) { return packr.unpack(bytes) }
  }
}

function isStrings (v: unknown): v is string[] {
  if (!Array.isArray(v)) return false
  for (const s of v) if (typeof s !== 'string') return false
  return true
}
