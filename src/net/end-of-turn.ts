// Writes held until the event loop has run every I/O callback of its current turn, then made together.
//
// Each write to a peer that sleeps in epoll_wait wakes it, and waking a sleeping process on another CPU costs the
// writer an inter-processor interrupt (in a virtual machine, a VM exit on each side). A proxy that writes each request
// to its backend and each answer to its client as soon as it has it wakes them once per request whenever it is slower
// than they are: they finish and sleep between its writes. The same writes made back to back, once the turn's reads
// are handled, find the peer still awake after the first. Measured on the 100 B bench (1 worker pinned, nginx
// backend and wrk on the other CPU): the backend slept 0.26 times per request and wrk 0.34; with the writes of a turn
// made together, 0.06 and 0.08, and the worker answered ~19% more requests (README, "Writes made together").
//
// `setImmediate` runs in the check phase, right after the poll phase that ran the turn's I/O callbacks (uWS's sockets
// and node:net's alike share Node's libuv loop), so a deferred write waits for the rest of its turn's callbacks, never
// for a timer or a further turn.

/** Something with a write held for the end of the turn. */
export interface Deferred {
  /** Makes the held write (or finds that it is no longer wanted). */
  runDeferred (): void
}

const queue: Deferred[] = []
let scheduled = false

/** Runs `d.runDeferred()` once the current turn's I/O callbacks are done, after those deferred before it. */
export function atEndOfTurn (d: Deferred): void {
  queue.push(d)
  if (scheduled) return
  scheduled = true
  setImmediate(flush)
}

function flush (): void {
  let i = 0
  try {
    // What a deferred write defers in turn (a pipelined request answered at once, say) joins this same burst.
    for (; i < queue.length; i++) queue[i]!.runDeferred()
  } finally {
    if (i < queue.length) {
      // One threw (the error goes on to the process's handler): the others still run, in a turn of their own.
      queue.splice(0, i + 1)
      setImmediate(flush)
    } else {
      queue.length = 0
      scheduled = false
    }
  }
}
