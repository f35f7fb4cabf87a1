// The access line's string fields: JSON.stringify on each against a regex that finds nothing to escape first
// (src/log/access.ts, jsonString). Alternates the two in one process and prints ns per field and the ratio.
import { jsonString } from '../../src/log/access.ts'

// What a request's line carries: request id, client address, method, host, paths.
const VALUES = ['a1b2c3d4e5f6a7b8', '127.0.0.1', 'GET', '127.0.0.1:8080', '/100b', '/api/v1/users/12345', '2001:db8::7']
const N = 1_000_000

function run (quote: (s: string) => string): number {
  let n = 0
  const start = performance.now()
  // `+ ''` gives a fresh string each time, as each request's fields are.
  for (let i = 0; i < N; i++) n += quote(VALUES[i % VALUES.length]! + '').length
  if (n === 0) throw new Error('unreachable')
  return (performance.now() - start) * 1e6 / N
}

const plain = (s: string): string => JSON.stringify(s)
const rows: Array<[number, number]> = []
for (let round = 0; round < 7; round++) rows.push([run(plain), run(jsonString)])
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const a = median(rows.map((r) => r[0]))
const b = median(rows.map((r) => r[1]))
console.log(`JSON.stringify ${a.toFixed(1)} ns/field, jsonString ${b.toFixed(1)} ns/field: ${(a / b).toFixed(2)}x (median of ${rows.length} alternating rounds, Node ${process.versions.node})`)
