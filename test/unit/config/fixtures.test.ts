// Walks test/fixtures/configs: every valid file loads; every invalid file is refused with the expected path and reason.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { loadConfigFile, ConfigError } from '../../../src/config/index.ts'
import { validFixtures, invalidFixtures, type InvalidFixture } from '../../fixtures/configs/index.ts'

const valid = validFixtures()
const invalid = invalidFixtures()

test('the fixture set covers enough cases', () => {
  assert.ok(valid.length >= 4, `${valid.length} valid fixtures`)
  assert.ok(invalid.length >= 20, `${invalid.length} invalid fixtures`)
  assert.ok(valid.some((f) => f.name.endsWith('.json')) && invalid.some((f) => f.name.endsWith('.json')), 'JSON fixtures on both sides')
})

for (const f of valid) {
  test(`valid: ${f.name} loads`, () => {
    const config = loadConfigFile(f.file)
    assert.ok(config.routes.length > 0)
    for (const r of config.routes) assert.ok(Object.hasOwn(config.upstreams, r.upstream), `route names ${r.upstream}`)
  })
}

for (const f of invalid) {
  test(`invalid: ${f.name}`, () => {
    const err = refusal(f)
    assert.equal(err.code, 'SWY_CONFIG_INVALID')
    if (Array.isArray(f.expected)) {
      assert.deepEqual(err.problems.map((p) => ({ ...p })), f.expected)
      assert.equal(err.path, f.expected[0]?.path)
    } else {
      const { path, reason } = f.expected as { path: string, reason: string }
      assert.deepEqual({ path: err.path, reason: err.reason }, { path, reason }, `all problems: ${JSON.stringify(err.problems)}`)
    }
  })
}

function refusal (f: InvalidFixture): ConfigError {
  try {
    loadConfigFile(f.file)
  } catch (err) {
    if (err instanceof ConfigError) return err
    throw err
  }
  assert.fail(`${f.name} loaded, but should have been refused`)
}
