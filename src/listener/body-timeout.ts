// limits.body_timeout for any engine: one sweep per listener over the request bodies still arriving ends those that
// stalled (nginx's client_body_timeout). The engines' own cuts come late or never (docs/engines.md).
import type { Exchange } from '../pipeline/index.ts'

/** What the sweep needs to know of the engine's side of a body. */
export interface BodyFeed {
  /** Nobody answered or aborted yet: the body is still wanted. */
  readonly wantsBody: boolean
  /** The engine stopped reading the client itself, because the backend is slower: not the client's stall. */
  readonly bodyPaused: boolean
}

interface Watch {
  readonly ex: Exchange
  readonly feed: BodyFeed
  /** When the last piece came (listener clock), or when the sweep last found the body paused by us. */
  last: number
}

export interface BodyTimeouts {
  /** Starts watching a body; the returned function records that a piece arrived, `done` that the body ended. */
  watch (ex: Exchange, feed: BodyFeed): { arrived (): void, done (): void }
}

const NOTHING = { arrived () {}, done () {} }

/**
 * Watches bodies for `timeoutMs` of silence, checked every quarter of it (between 250 ms and 1 s): a stalled body gets
 * Exchange.bodyRefused('SWY_REQUEST_TIMEOUT'). `timeoutMs` 0 watches nothing. The timer is unref'd.
 */
export function createBodyTimeouts (timeoutMs: number, clock: () => number): BodyTimeouts {
  if (timeoutMs <= 0) return { watch: () => NOTHING }
  const watching = new Set<Watch>()
  const timer = setInterval(() => {
    const now = clock()
    for (const w of watching) {
      if (!w.feed.wantsBody) { watching.delete(w); continue }
      if (w.feed.bodyPaused) { w.last = now; continue }
      if (now - w.last < timeoutMs) continue
      watching.delete(w)
      w.ex.bodyRefused('SWY_REQUEST_TIMEOUT')
    }
  }, Math.min(1000, Math.max(250, timeoutMs / 4)))
  timer.unref()
  return {
    watch (ex, feed) {
      const w: Watch = { ex, feed, last: clock() }
      watching.add(w)
      return {
        arrived () { w.last = clock() },
        done () { watching.delete(w) }
      }
    }
  }
}
