// The rapid-reset budget's limits: where node cannot pass them on to nghttp2, they never exceed nghttp2's own, or
// nghttp2 would cut first and leave the connection open (src/listener/node/reset-budget.ts).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { resetBudget } from '../../../src/listener/node/reset-budget.ts'

test('before Node 23 the budget is at most nghttp2\'s 1000 and 33/s', () => {
  assert.deepEqual(resetBudget(5000, 100, '20.20.2'), { burst: 1000, rate: 33 })
  assert.deepEqual(resetBudget(100, 10, '22.12.0'), { burst: 100, rate: 10 })
})

test('from Node 23 the config reaches nghttp2 and the budget follows it', () => {
  assert.deepEqual(resetBudget(5000, 100, '23.0.0'), { burst: 5000, rate: 100 })
  assert.deepEqual(resetBudget(5000, 100, '24.11.1'), { burst: 5000, rate: 100 })
})
