// Rapid reset (CVE-2023-44487): a client that opens streams and resets them at once makes the proxy start work it never
// finishes. nghttp2 has its own limit, but when it trips, node stops reading the connection and leaves it open behind a
// GOAWAY (node's Http2Session::MaybeStopReading; no event reaches JS), so the socket lingers until the idle timeout.
// And Node 20's node:http2 does not take streamResetBurst/streamResetRate, so config `http2.reset_*` would not reach
// nghttp2 there. This budget, in JS, is the one that cuts: it always trips no later than nghttp2's does.
import { constants, type Http2Session, type ServerHttp2Stream } from 'node:http2'

export interface ResetBudget {
  /** Streams a client may reset before their response ended, at once. */
  readonly burst: number
  /** ... and per second after that. */
  readonly rate: number
}

/** nghttp2's own defaults, which hold wherever node does not pass streamResetBurst/streamResetRate on. */
const NGHTTP2_RESETS: ResetBudget = { burst: 1000, rate: 33 }

/**
 * The budget for config `http2.reset_burst`/`reset_rate`. Node 23 passes both on to nghttp2 (nodejs/node#54875); before
 * it (Node 20 and 22 here: a backport is not relied on), nghttp2 keeps its defaults, so the budget is never looser.
 */
export function resetBudget (burst: number, rate: number, version = process.versions.node): ResetBudget {
  if (Number(version.split('.')[0]) >= 23) return { burst, rate }
  return { burst: Math.min(burst, NGHTTP2_RESETS.burst), rate: Math.min(rate, NGHTTP2_RESETS.rate) }
}

/**
 * Watches a server session: every stream the client resets before its response ended spends a token; the bucket
 * holds `burst − rate` and gains `rate` each whole second. Empty: GOAWAY ENHANCE_YOUR_CALM and the connection closes.
 *
 * nghttp2's bucket (burst, +rate per whole second of its own clock) can gain one second's rate more than this one over
 * any interval, as the two clocks' seconds start at different instants; holding `rate` fewer tokens makes up for that,
 * so the JS budget is empty whenever nghttp2's is, and a connection nghttp2 stopped reading is closed here.
 */
export function watchResets (session: Http2Session, budget: ResetBudget, clock: () => number): void {
  const cap = Math.max(1, budget.burst - budget.rate)
  let tokens = cap
  let second = Math.floor(clock() / 1000)
  const spend = (): void => {
    const now = Math.floor(clock() / 1000)
    if (now > second) {
      tokens = Math.min(cap, tokens + (now - second) * budget.rate)
      second = now
    }
    if (--tokens >= 0 || session.destroyed) return
    // With an error, the code goes into the GOAWAY (without one, node sends NO_ERROR whatever code is given).
    session.destroy(new Error('rapid reset: stream reset budget spent'), constants.NGHTTP2_ENHANCE_YOUR_CALM)
  }
  session.on('stream', (stream: ServerHttp2Stream) => {
    // aborted: closed by the client's RST_STREAM (any code, NO_ERROR too) before the response ended.
    stream.once('close', () => { if (stream.aborted) spend() })
  })
}
