// The stage runner: synchronous until a stage really waits, so a fully synchronous path creates no promises.
import { DONE, NEXT } from './verdict.ts'
import type { Exchange, Stage } from './exchange.ts'

export function runStages (stages: readonly Stage[], ex: Exchange, from = 0): void | Promise<void> {
  for (let i = from; i < stages.length; i++) {
    const v = stages[i]!.run(ex)
    if (v === DONE) return
    // After a wait the exchange may have ended meanwhile (client gone, body over max_body): go no further.
    if (v !== NEXT) return v.then((r) => { if (r === NEXT && !ex.finished && !ex.aborted) return runStages(stages, ex, i + 1) })
  }
}

/** Runs the stages and turns any fault into a local error reply: the one place faults are caught. */
export function runExchange (stages: readonly Stage[], ex: Exchange, from = 0): void {
  try {
    const p = runStages(stages, ex, from)
    if (p !== undefined) p.catch((err: unknown) => { ex.fail(err) })
  } catch (err) {
    ex.fail(err)
  }
}

/**
 * Runs the stages of `ex`'s route that come after `stage`, for an exchange nobody waits on (the cache's background
 * refresh: balance and upstream). The stage that starts such work needs no list of what follows it.
 */
export function runAfter (stage: Stage, ex: Exchange): void {
  const stages = ex.route?.stages ?? []
  runExchange(stages, ex, stages.indexOf(stage) + 1)
}
