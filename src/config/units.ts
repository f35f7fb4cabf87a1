// Human units in config files: durations ('500ms', '2s', '1m', '1h') and sizes ('16kb', '10mb').
// Plain numbers are milliseconds and bytes.

const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)$/
const DURATION_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }
const SIZE = /^(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?$/
const SIZE_BYTES: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 }

/** Milliseconds, or undefined when the text is not a duration. */
export function parseDuration (value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : undefined
  const m = DURATION.exec(value.trim().toLowerCase())
  if (m === null) return undefined
  return Math.round(Number(m[1]) * DURATION_MS[m[2]!]!)
}

/** Bytes, or undefined when the text is not a size. */
export function parseSize (value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0 ? value : undefined
  const m = SIZE.exec(value.trim().toLowerCase())
  if (m === null) return undefined
  return Math.round(Number(m[1]) * SIZE_BYTES[m[2] ?? 'b']!)
}
