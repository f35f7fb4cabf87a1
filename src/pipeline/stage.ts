// A stage is one small step of the data path. It answers NEXT to pass the request on, or DONE after answering it.
import type { Exchange } from './exchange.ts'

export const NEXT = 0
export const DONE = 1
export type Verdict = typeof NEXT | typeof DONE

export interface Stage {
  /** Shows up in logs and metric labels. */
  readonly name: string
  run (ex: Exchange): Verdict | Promise<Verdict>
}
