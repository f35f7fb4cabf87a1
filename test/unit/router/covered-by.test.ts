// Which names an SNI certificate entry covers (the 421 check and the redirect's host check): exact, or one label
// under a `*.` entry, as uWS matches SNI.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { coveredBy } from '../../../src/router/index.ts'

const cases: Array<{ name: string, hosts: string[], host: string, expected: boolean }> = [
  { name: 'exact', hosts: ['a.test'], host: 'a.test', expected: true },
  { name: 'another exact', hosts: ['a.test', 'www.a.test'], host: 'www.a.test', expected: true },
  { name: 'not listed', hosts: ['a.test'], host: 'b.test', expected: false },
  { name: 'suffix is not enough', hosts: ['a.test'], host: 'xa.test', expected: false },
  { name: 'wildcard, one label', hosts: ['*.b.test'], host: 'x.b.test', expected: true },
  { name: 'wildcard, not the apex', hosts: ['*.b.test'], host: 'b.test', expected: false },
  { name: 'wildcard, not two labels', hosts: ['*.b.test'], host: 'y.x.b.test', expected: false },
  { name: 'wildcard, not a lookalike', hosts: ['*.b.test'], host: 'x.evilb.test', expected: false },
  { name: 'empty host', hosts: ['a.test', '*.b.test'], host: '', expected: false },
  { name: 'a Host with userinfo', hosts: ['*.b.test'], host: 'evil.test@x.b.test', expected: false }
]

for (const c of cases) {
  test(c.name, () => { assert.equal(coveredBy(c.hosts, c.host), c.expected) })
}
