// Rise/fall counting of active health checks, as a table of probe sequences.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ServerHealth, type ProbeResult } from '../../../src/health/index.ts'

const ok: ProbeResult = { ok: true }
const bad: ProbeResult = { ok: false, reason: 'status 500' }

const cases: Array<{ name: string, rise: number, fall: number, probes: ProbeResult[], states: boolean[] }> = [
  { name: 'starts healthy and stays so while probes pass', rise: 2, fall: 3, probes: [ok, ok, ok], states: [true, true, true] },
  { name: 'goes down on the fall-th consecutive failure', rise: 2, fall: 3, probes: [bad, bad, bad], states: [true, true, false] },
  { name: 'a pass between failures starts the count again', rise: 2, fall: 3, probes: [bad, bad, ok, bad, bad, bad], states: [true, true, true, true, true, false] },
  { name: 'comes back on the rise-th consecutive pass', rise: 2, fall: 1, probes: [bad, ok, ok], states: [false, false, true] },
  { name: 'a failure between passes keeps it down', rise: 2, fall: 1, probes: [bad, ok, bad, ok, ok], states: [false, false, false, false, true] },
  { name: 'rise 1 and fall 1 follow every probe', rise: 1, fall: 1, probes: [bad, ok, bad, ok], states: [false, true, false, true] }
]

for (const c of cases) {
  test(c.name, () => {
    const h = new ServerHealth(c.rise, c.fall)
    const states: boolean[] = []
    const flips: boolean[] = []
    let before = h.healthy
    for (const p of c.probes) {
      flips.push(h.record(p))
      states.push(h.healthy)
      assert.equal(flips.at(-1), h.healthy !== before, 'record() reports exactly the flips')
      before = h.healthy
    }
    assert.deepEqual(states, c.states)
  })
}

test('keeps the last failure reason while down, and clears it once healthy again', () => {
  const h = new ServerHealth(1, 1)
  h.record({ ok: false, reason: 'ECONNREFUSED' })
  assert.equal(h.lastReason, 'ECONNREFUSED')
  h.record(ok)
  assert.equal(h.lastReason, undefined)
})
