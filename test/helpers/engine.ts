// Which uWebSockets.js build a proxy started by these tests runs on, worked out from this process's Node ABI and
// glibc alone (not by asking the loader under test), so engine-specific expectations can be chosen by engine.
export type EngineVersion = '20.57' | '20.30'

function glibc (): [number, number] | undefined {
  const v = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header?.glibcVersionRuntime
  const m = /^(\d+)\.(\d+)/.exec(v ?? '')
  return m === null ? undefined : [Number(m[1]), Number(m[2])]
}

/** 20.57 needs ABI 115/127/137/141 and glibc ≥ 2.38; 20.30 needs ABI 93/108/115 and glibc ≥ 2.27. */
export function expectedEngine (): EngineVersion {
  const abi = process.versions.modules
  const g = glibc()
  const atLeast = (major: number, minor: number): boolean => g !== undefined && (g[0] > major || (g[0] === major && g[1] >= minor))
  if (['115', '127', '137', '141'].includes(abi) && atLeast(2, 38)) return '20.57'
  if (['93', '108', '115'].includes(abi) && atLeast(2, 27)) return '20.30'
  throw new Error(`no uWebSockets.js build loads on ABI ${abi} with glibc ${g?.join('.') ?? 'none'}: the suite cannot run here`)
}

/** The engine the suite runs against, named once in the log of every file that uses it. */
export const ENGINE: EngineVersion = expectedEngine()

/** Picks the expectation for the engine under test. */
export function byEngine<T> (expected: Readonly<Record<EngineVersion, T>>): T {
  return expected[ENGINE]
}

/**
 * The engine serving the proxies' plain listeners in this run: `node` when SWITCHYARD_TEST_ENGINE=node (helpers'
 * onTestEngine puts them there), else uWS. .ci/run runs the security suite both ways.
 */
export const LISTENER: 'uws' | 'node' = process.env.SWITCHYARD_TEST_ENGINE === 'node' ? 'node' : 'uws'

/** Picks the expectation for what serves the listener: the node engine, or the uWS build under test. */
export function byListener<T> (expected: Readonly<Record<EngineVersion | 'node', T>>): T {
  return LISTENER === 'node' ? expected.node : expected[ENGINE]
}
