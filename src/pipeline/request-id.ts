// Request ids: a random per-process prefix and a counter. Unique across workers and restarts, and far cheaper
// than a UUID per request.
import { randomBytes } from 'node:crypto'

export function createRequestIds (): () => string {
  const prefix = `${randomBytes(6).toString('base64url')}-`
  let n = 0
  return () => `${prefix}${(++n).toString(36)}`
}
