// The upstream client's one timer: a coarse ticking clock that also sweeps every open connection for its deadline
// (connect, response, idle), instead of a setTimeout per request. One per runtime (so one per worker), built with the pools.

import { Buffer } from 'node:buffer'

/** Something with a deadline, checked on every tick. */
export interface Swept {
  /** Called on each tick with the clock's time; the item acts on its own deadline. */
  sweep (now: number): void
}

/** Bytes per socket read: a 64 KiB body and its head in one read when they have all arrived. */
export const READ_BUFFER_BYTES = 128 * 1024

/** How often the clock ticks: a deadline fires at most this late. */
export const TICK_MS = 50

export class UpstreamClock {
  /** Milliseconds (Date.now) as of the last tick: what the hot path reads instead of the system clock. */
  now = Date.now()
  readonly #items = new Set<Swept>()
  #timer: NodeJS.Timeout | null = null
  #closed = false

  /** Starts sweeping `item` until `remove`. The timer runs only while something is watched. */
  add (item: Swept): void {
    this.#items.add(item)
    if (this.#timer === null && !this.#closed) {
      this.now = Date.now()
      this.#timer = setInterval(() => { this.#tick() }, TICK_MS)
      this.#timer.unref()
    }
  }

  remove (item: Swept): void {
    this.#items.delete(item)
    if (this.#items.size === 0 && this.#timer !== null) {
      clearInterval(this.#timer)
      this.#timer = null
    }
  }

  #tick (): void {
    const now = this.now = Date.now()
    for (const item of this.#items) item.sweep(now)
  }

  /**
   * The buffer every connection's socket reads into (the `onread` option): one per runtime, since each read is
   * parsed and handed on within its callback. Nothing may keep a view of it past that call: the parser copies a
   * head and any bytes it must hold while paused, and Downstream.write copies what it cannot send at once.
   */
  readonly readBuffer: Buffer = Buffer.allocUnsafe(READ_BUFFER_BYTES)

  close (): void {
    this.#closed = true
    if (this.#timer !== null) clearInterval(this.#timer)
    this.#timer = null
    this.#items.clear()
  }
}
