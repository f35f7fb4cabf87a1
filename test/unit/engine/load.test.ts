// The engine loader: the newest build that loads wins, and when none does the error says which Node/glibc
// combinations work and why each build failed here.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { loadEngine, ENGINE_BUILDS, UwsUnavailableError, type EngineBuild } from '../../../src/engine/index.ts'
import { ENGINE } from '../../helpers/engine.ts'

const missing = (b: EngineBuild): EngineBuild => ({ ...b, binary: () => `/nonexistent/uws_${b.version}.node` })

test('loads the newest build whose binary loads on this Node and libc', () => {
  const e = loadEngine({})
  assert.equal(e.build.version, ENGINE)
  assert.equal(typeof e.uws.SSLApp, 'function')
  assert.equal(e.describe, `node ${process.versions.node}, uWebSockets.js ${ENGINE}`)
})

test('falls back to the older build when the newer one does not load', () => {
  const [newer, older] = ENGINE_BUILDS
  if (ENGINE === '20.30') {
    // Here the newer build already fails on its own (glibc < 2.38 or an ABI it lacks): the order is what is tested.
    assert.equal(loadEngine({}, [newer!, older!]).build.version, '20.30')
  } else {
    // Node 20 (ABI 115) has binaries in both builds; elsewhere only the newer one can load.
    const abi = process.versions.modules
    if (older!.abis.includes(abi)) assert.equal(loadEngine({}, [missing(newer!), older!]).build.version, '20.30')
    else assert.throws(() => loadEngine({}, [missing(newer!), older!]), UwsUnavailableError)
  }
})

test('when no build loads, the error names every supported Node/glibc combination and each failure', () => {
  assert.throws(() => loadEngine({}, ENGINE_BUILDS.map(missing)), (err: Error) => {
    assert.ok(err instanceof UwsUnavailableError)
    assert.match(err.message, /Node 20, 22, 24 or 25 with glibc ≥ 2\.38/)
    assert.match(err.message, /Node 20 with glibc ≥ 2\.27/)
    assert.match(err.message, new RegExp(`Node ${process.version.replaceAll('.', '\\.')}`))
    assert.match(err.message, /uWebSockets\.js 20\.57 \(Node 20, 22, 24 or 25 on glibc ≥ 2\.38\): Cannot find module/)
    assert.match(err.message, /uWebSockets\.js 20\.30 \(Node 16, 18 or 20 on glibc ≥ 2\.27\): Cannot find module/)
    assert.match(err.message, /refuses the pure-Node fallback/)
    return true
  })
})

test('UWS_USE_FALLBACK is refused whatever build would load', () => {
  assert.throws(() => loadEngine({ UWS_USE_FALLBACK: '1' }), /UWS_USE_FALLBACK is set/)
})
