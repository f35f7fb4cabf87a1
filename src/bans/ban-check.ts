// The global ban check, right after the guard: a synchronous lookup of the request's client values (address, and the
// headers/cookies some ban rule keys on) in the worker's ban table. Present only when some rate limit has a ban.
import { DONE, NEXT, type Exchange, type Stage, type Verdict } from '../pipeline/index.ts'
import type { BanEntry, BanTable } from './ban-table.ts'

export interface BanCheckOptions {
  readonly table: BanTable
  /**
   * Kinds some ban rule can produce: `ip` (always: header and cookie rules fall back to the address), and each
   * `header:NAME` (lower-case) or `cookie:NAME` a rule keys on. Only these are read per request.
   */
  readonly kinds: readonly string[]
}

type Reader = (ex: Exchange) => string | undefined

// One shape per kind, made at build time.
class Probe {
  readonly map: Map<string, BanEntry>
  readonly read: Reader
  constructor (map: Map<string, BanEntry>, read: Reader) {
    this.map = map
    this.read = read
  }
}

function readerOf (kind: string): Reader {
  if (kind.startsWith('header:')) {
    const name = kind.slice(7)
    return (ex) => ex.header(name)
  }
  if (kind.startsWith('cookie:')) {
    const name = kind.slice(7)
    return (ex) => ex.cookie(name)
  }
  return (ex) => ex.clientIp
}

export function createBanCheck ({ table, kinds }: BanCheckOptions): Stage {
  const probes = kinds.map((k) => new Probe(table.kind(k), readerOf(k)))

  const refuse = (ex: Exchange, e: BanEntry, leftMs: number): Verdict => {
    if (e.close) {
      // No answer at all: the connection is cut (uWS res.close), as for an upstream failure mid-body.
      ex.errorCode = 'SWY_BANNED'
      ex.downstream.abort()
      return DONE
    }
    return ex.reject('SWY_BANNED', false, ['retry-after', String(Math.max(1, Math.ceil(leftMs / 1000)))])
  }

  return {
    name: 'ban',
    run (ex) {
      if (table.size === 0) return NEXT
      for (let i = 0; i < probes.length; i++) {
        const p = probes[i]!
        if (p.map.size === 0) continue
        const v = p.read(ex)
        if (v === undefined) continue
        const left = table.remainingMs(p.map, v)
        if (left > 0) return refuse(ex, p.map.get(v)!, left)
      }
      return NEXT
    }
  }
}
