// What a stage answers: NEXT passes the request on, DONE means it was answered (or handed to work that answers it).
// A file of its own so that exchange.ts and stage.ts both import it and not each other.

export const NEXT = 0
export const DONE = 1
export type Verdict = typeof NEXT | typeof DONE
