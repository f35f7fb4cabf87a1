// docker-compose.yml stays valid and starts the same programs the tests run (no Docker engine runs here).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parse } from 'yaml'
import { runCli } from '../helpers/index.ts'

const root = fileURLToPath(new URL('../../../', import.meta.url))

test('docker-compose.yml validates and its commands exist and pass `switchyard check`', async () => {
  const out = execFileSync('docker-compose', ['-f', `${root}docker-compose.yml`, 'config'], { encoding: 'utf8' })
  const compose = parse(out) as { services: Record<string, { command?: string[] }> }
  const commands = Object.values(compose.services).map((s) => s.command ?? [])
  const nodeCmds = commands.filter((c) => c[0] === 'node')
  assert.ok(nodeCmds.length >= 4, 'proxy and demo backends are node programs')
  for (const c of nodeCmds) assert.ok(existsSync(`${root}${c[1]!}`), `${c[1]!} is built by npm run build`)
  const proxy = nodeCmds.find((c) => c[1] === 'dist/workers/cli.js')
  assert.deepEqual(proxy?.slice(2, 4), ['start', '-c'])
  const r = await runCli(['check', `${root}${proxy[4]!}`])
  assert.equal(r.code, 0, r.stderr)
})
