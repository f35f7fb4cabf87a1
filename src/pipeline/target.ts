// One backend server as the data path sees it. Declared here, below every stage, because the Exchange names the
// server a request went to; the balancer picks targets, the upstream stage sends to them, health marks them.

export interface Target {
  /** Position in the upstream's `servers` list. */
  readonly index: number
  /** Base URL, e.g. `http://127.0.0.1:9001`. */
  readonly url: string
  /** Relative weight, ≥ 1. */
  readonly weight: number
  /** Requests currently in flight to this server from this worker (the upstream stage counts them). */
  inflight: number
  /** False while health checks or passive ejection take the server out. */
  healthy: boolean
}
