// The real `switchyard` CLI: check over every config fixture, --help, --version, usage errors,
// and `start` refusing an invalid config (exit 1) before any worker starts.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ENGINE, byEngine } from '../helpers/engine.ts'
import { readFileSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runCli } from '../helpers/index.ts'
import { validFixtures, invalidFixtures, expectedProblems, CONFIGS_DIR } from '../fixtures/configs/index.ts'

const EXIT = { OK: 0, CONFIG: 1, USAGE: 2 }

const line = (p: { path: string, reason: string }): string => `config: ${p.path === '' ? '(root)' : p.path}: ${p.reason}`

// One process per file, a few at a time: each subtest is independent and only reads its fixture.
test('check refuses each invalid fixture: exit 1 and every expected problem on stderr', { concurrency: 6 }, async (t) => {
  await Promise.all(invalidFixtures().map(async (f) => await t.test(f.name, async () => {
    const r = await runCli(['check', f.file])
    assert.equal(r.code, EXIT.CONFIG, r.stderr)
    assert.equal(r.stdout, '')
    const lines = r.stderr.trimEnd().split('\n')
    assert.equal(lines[0], `${f.file}: invalid configuration`)
    const expected = expectedProblems(f).map(line)
    if (Array.isArray(f.expected)) assert.deepEqual(lines.slice(1), expected)
    else assert.equal(lines[1], expected[0], r.stderr)
  })))
})

test('check accepts each valid fixture: exit 0 and "FILE: ok"', { concurrency: 6 }, async (t) => {
  await Promise.all(validFixtures().map(async (f) => await t.test(f.name, async () => {
    const r = await runCli(['check', f.file])
    assert.equal(r.code, EXIT.OK, r.stderr)
    assert.equal(r.stdout, `${f.file}: ok\n`)
    assert.equal(r.stderr, '')
  })))
})

test('check with several files reports each and fails if any is invalid', async () => {
  const good = join(CONFIGS_DIR, 'valid', 'minimal.yaml')
  const bad = join(CONFIGS_DIR, 'invalid', 'workers-zero.yaml')
  const r = await runCli(['check', good, bad])
  assert.equal(r.code, EXIT.CONFIG)
  assert.equal(r.stdout, `${good}: ok\n`)
  assert.match(r.stderr, /^config: workers: must be auto or a whole number from 1 to 256$/m)
})

test('check applies --workers like the config key', async () => {
  const r = await runCli(['check', join(CONFIGS_DIR, 'valid', 'minimal.yaml'), '--workers', '0'])
  assert.equal(r.code, EXIT.CONFIG)
  assert.match(r.stderr, /^config: workers: must be auto or a whole number from 1 to 256$/m)
})

test('check of a missing file: exit 1, names the file', async () => {
  const r = await runCli(['check', '/nonexistent/switchyard.yaml'])
  assert.equal(r.code, EXIT.CONFIG)
  assert.match(r.stderr, /^\/nonexistent\/switchyard\.yaml: invalid configuration\nconfig: \(root\): cannot read the file: no such file$/m)
})

const usage: Array<{ name: string, input: string[], expected: RegExp }> = [
  { name: 'no command', input: [], expected: /^switchyard: no command$/m },
  { name: 'an unknown command', input: ['serve'], expected: /^switchyard: unknown command: serve$/m },
  { name: 'an unknown option', input: ['check', '--frobnicate'], expected: /^switchyard: Unknown option '--frobnicate'/m },
  { name: 'check without a file', input: ['check'], expected: /^switchyard: check needs a FILE$/m },
  { name: '--port outside demo', input: ['start', '-c', 'x.yaml', '--port', '9000'], expected: /^switchyard: --port is only for demo/m },
  { name: 'start with two files', input: ['start', 'a.yaml', 'b.yaml'], expected: /^switchyard: start takes one config file$/m },
  { name: 'demo with a non-numeric port', input: ['demo', '--port', 'eighty'], expected: /^switchyard: --port must be a number$/m }
]

for (const c of usage) {
  test(`usage error (exit 2): ${c.name}`, async () => {
    const r = await runCli(c.input)
    assert.equal(r.code, EXIT.USAGE, r.stderr)
    assert.match(r.stderr, c.expected)
    assert.match(r.stderr, /Usage:/)
  })
}

test('--help: exit 0, lists the commands and exit codes', async () => {
  for (const flag of ['--help', '-h']) {
    const r = await runCli([flag])
    assert.equal(r.code, EXIT.OK)
    for (const word of ['switchyard start', 'switchyard check', 'switchyard demo', '--workers', 'Exit codes']) assert.ok(r.stdout.includes(word), `${flag} mentions ${word}`)
    assert.equal(r.stderr, '')
  }
})

test('--version prints the package version, the runtime and the engine build that loads here', async () => {
  const pkg = JSON.parse(readFileSync(join(CONFIGS_DIR, '..', '..', '..', 'package.json'), 'utf8')) as { version: string }
  for (const flag of ['--version', '-v']) {
    const r = await runCli([flag])
    assert.equal(r.code, EXIT.OK)
    assert.equal(r.stdout, `${pkg.version} (node ${process.versions.node}, uWebSockets.js ${ENGINE})\n`)
  }
})

test('check warns, by engine, about methods uWebSockets.js 20.30 closes: a config naming PURGE still loads', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'swy-cli-'))
  t.after(() => { rmSync(dir, { recursive: true, force: true }) })
  const file = join(dir, 'purge.yaml')
  writeFileSync(file, 'upstreams: { a: { servers: [{ url: http://127.0.0.1:9001 }] } }\nroutes: [{ upstream: a, limits: { methods: [GET, PURGE] } }]\n')
  const r = await runCli(['check', file])
  assert.equal(r.code, EXIT.OK, r.stderr)
  assert.equal(r.stdout, `${file}: ok\n`)
  assert.equal(r.stderr, byEngine({
    '20.30': `${file}: warning: config: routes[0].limits.methods: uWebSockets.js 20.30 closes the connection on PURGE before Switchyard sees it; run on uWebSockets.js 20.57 (Node 20-25 with glibc ≥ 2.38) to serve them\n`,
    '20.57': ''
  }))
})

test('start with an invalid config exits 1 and names the key path', async () => {
  const f = join(CONFIGS_DIR, 'invalid', 'url-ftp.yaml')
  const r = await runCli(['start', '-c', f])
  assert.equal(r.code, EXIT.CONFIG, r.stderr)
  assert.match(r.stderr, /^config: upstreams\.api\.servers\[0\]\.url: must be an http\(s\) URL/m)
})

test('start --workers 0 exits 1 naming workers', async (t) => {
  // 192.0.2.1 (TEST-NET-1) is on no interface: were --workers 0 let through, start would fail with exit 3, not hang.
  const dir = mkdtempSync(join(tmpdir(), 'swy-cli-'))
  t.after(() => { rmSync(dir, { recursive: true, force: true }) })
  const file = join(dir, 'c.yaml')
  writeFileSync(file, 'listen: [{ host: 192.0.2.1, port: 8080 }]\nupstreams: { a: { servers: [{ url: "http://127.0.0.1:9" }] } }\nroutes: [{ upstream: a }]\n')
  const r = await runCli(['start', '-c', file, '--workers', '0'])
  assert.equal(r.code, EXIT.CONFIG, r.stderr)
  assert.match(r.stderr, /^config: workers: must be auto or a whole number from 1 to 256$/m)
})
