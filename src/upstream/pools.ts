// One undici Pool per backend server, with keep-alive; undici owns the deadlines (no per-request timers).
import { Pool } from 'undici'
import type { UpstreamConfig } from '../config/index.ts'

export function createPools (u: UpstreamConfig): Pool[] {
  return u.servers.map((s) => new Pool(s.url, {
    connections: u.connections,
    pipelining: 1,
    keepAliveTimeout: u.timeouts.idle,
    keepAliveMaxTimeout: u.timeouts.idle,
    headersTimeout: u.timeouts.response,
    bodyTimeout: u.timeouts.response,
    connect: { timeout: u.timeouts.connect }
  }))
}

/** Closes pools after their in-flight requests finish; destroys what is left after `graceMs`. */
export async function closePools (pools: readonly Pool[], graceMs: number): Promise<void> {
  await Promise.all(pools.map(async (p) => {
    const t = setTimeout(() => { p.destroy().catch(() => {}) }, graceMs)
    try { await p.close() } catch {} finally { clearTimeout(t) }
  }))
}
