// Whether a reload can hand a port from one listener engine to the other on this Node. uWS binds every worker's
// socket with SO_REUSEPORT; the node engine does too from Node 22.12 (`reusePort`), but before that the primary binds
// one socket for all workers (node:cluster), without SO_REUSEPORT, and it cannot sit beside uWS's sockets: the new
// generation failed with EADDRINUSE while the old one kept serving (tried on Node 20.20, both directions).
import type { ConfigProblem } from './config-error.ts'
import { listenerEngine, type ListenConfig } from './schema.ts'

/** Node 22.12+ and 23.1+ take `reusePort` in listen(). */
export function nodeHasReusePort (version = process.versions.node): boolean {
  const [major = 0, minor = 0] = version.split('.').map(Number)
  return major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12)
}

/**
 * One problem per listen entry of `next` whose address `current` serves with the other engine, when this Node cannot
 * bind the two engines' sockets side by side (nodeHasReusePort); none when it can.
 */
export function engineMoves (current: readonly ListenConfig[], next: readonly ListenConfig[], reusePort = nodeHasReusePort()): ConfigProblem[] {
  if (reusePort) return []
  const running = new Map(current.map((l) => [`${l.host}:${l.port}`, listenerEngine(l)]))
  const problems: ConfigProblem[] = []
  for (const [i, l] of next.entries()) {
    const from = running.get(`${l.host}:${l.port}`)
    const to = listenerEngine(l)
    if (from === undefined || from === to) continue
    problems.push({
      path: `listen[${i}].engine`,
      reason: `${l.host}:${l.port} is served by the ${from} engine; on Node ${process.versions.node} a reload cannot hand it to the ${to} engine (that needs reusePort, Node 22.12+): restart to change it, or move it to another port`
    })
  }
  return problems
}
