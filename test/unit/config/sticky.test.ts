// The sticky block normalised: defaults filled in, ttl in ms, one mode named; and both modes refused together.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { loadConfig, type ConfigError } from '../../../src/config/index.ts'

const base = (sticky: unknown): unknown => ({ upstreams: { api: { servers: [{ url: 'http://127.0.0.1:9001' }], sticky } }, routes: [{ upstream: 'api' }] })

const cases: Array<{ name: string, input: unknown, expected: unknown }> = [
  {
    name: 'cookie with defaults',
    input: { cookie: 'SWY' },
    expected: { mode: 'cookie', name: 'SWY', ttl: 1_800_000, secure: false, httpOnly: true, sameSite: 'lax', path: '/' }
  },
  {
    name: 'cookie with every option',
    input: { cookie: 'S', ttl: '2h', secure: true, http_only: false, same_site: 'none', path: '/shop' },
    expected: { mode: 'cookie', name: 'S', ttl: 7_200_000, secure: true, httpOnly: false, sameSite: 'none', path: '/shop' }
  },
  {
    name: 'learn keeps the cookie name as written (cookie names are case-sensitive)',
    input: { learn: 'JSESSIONID', ttl: '10m' },
    expected: { mode: 'learn', name: 'JSESSIONID', ttl: 600_000, secure: false, httpOnly: true, sameSite: 'lax', path: '/' }
  }
]
for (const c of cases) {
  test(`sticky: ${c.name}`, () => {
    assert.deepEqual(loadConfig(base(c.input)).upstreams.api!.sticky, c.expected)
  })
}

test('sticky: absent means no sticky key at all', () => {
  assert.equal(loadConfig(base(undefined)).upstreams.api!.sticky, undefined)
})

test('sticky: every problem of the block is reported, each with its path', () => {
  try {
    loadConfig(base({ learn: 'a b', secure: 'yes' }))
    assert.fail('loaded')
  } catch (err) {
    assert.deepEqual((err as ConfigError).problems.map((p) => p.path).sort(), ['upstreams.api.sticky.learn', 'upstreams.api.sticky.secure'])
  }
})
