// The stage runner: synchronous until a stage really waits, so a fully synchronous path creates no promises.
import { DONE, NEXT, type Stage } from './stage.ts'
import type { Exchange } from './exchange.ts'

export function runStages (stages: readonly Stage[], ex: Exchange, from = 0): void | Promise<void> {
  for (let i = from; i < stages.length; i++) {
    const v = stages[i]!.run(ex)
    if (v === DONE) return
    // After a wait the exchange may have ended meanwhile (client gone, body over max_body): go no further.
    if (v !== NEXT) return v.then((r) => { if (r === NEXT && !ex.finished && !ex.aborted) return runStages(stages, ex, i + 1) })
  }
}

/** Runs the stages and turns any fault into a local error reply: the one place faults are caught. */
export function runExchange (stages: readonly Stage[], ex: Exchange): void {
  try {
    const p = runStages(stages, ex)
    if (p !== undefined) p.catch((err: unknown) => { ex.fail(err) })
  } catch (err) {
    ex.fail(err)
  }
}
