// loadConfig: defaults applied, values normalised (ms, bytes, lower case), the result deep-frozen,
// and every problem reported with its key path, cross-key rules included.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig, loadConfigFile, parseConfigText, ConfigError, type ConfigProblem } from '../../../src/config/index.ts'

const minimal = (): Record<string, unknown> => ({
  upstreams: { api: { servers: [{ url: 'http://127.0.0.1:9001' }] } },
  routes: [{ upstream: 'api' }]
})

function problemsOf (fn: () => unknown): readonly ConfigProblem[] {
  try {
    fn()
  } catch (err) {
    if (err instanceof ConfigError) return err.problems
    throw err
  }
  assert.fail('expected a ConfigError')
}

test('fills in every default', () => {
  assert.deepEqual(loadConfig(minimal()), {
    listen: [{ host: '0.0.0.0', port: 8080, h2c: false }],
    workers: 'auto',
    log: { level: 'info', access: true },
    upstreams: {
      api: {
        balance: 'round-robin',
        servers: [{ url: 'http://127.0.0.1:9001', weight: 1 }],
        protocol: 'h1',
        retries: 1,
        timeouts: { connect: 2000, response: 30_000, idle: 60_000 },
        connections: 256,
        passive: { failures: 5, eject_for: 10_000, max_eject_for: 300_000, max_ejected_percent: 50 }
      }
    },
    routes: [{ match: { path: '/' }, upstream: 'api', strip_prefix: false, allow: [], deny: [], websocket: { enabled: true, max_message: 1024 * 1024, idle_timeout: 60_000, max_buffered: 4 * 1024 * 1024, deflate: true } }],
    limits: {
      max_body: 10_485_760,
      methods: ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'],
      max_headers: 64,
      max_header_size: 16_384,
      body_timeout: 10_000,
      max_inflight_per_ip: 0,
      max_connections_per_ip: 0,
      max_websockets: 0,
      allow_encoded_slash: false,
      merge_slashes: true
    },
    trusted_proxies: [],
    headers: { hide: ['server', 'x-powered-by'], via: true, preserve_host: true },
    shutdown: { drain_timeout: 10_000 },
    body_highwater: 65_536,
    admin: { enabled: true, host: '127.0.0.1', port: 9090 },
    metrics: { enabled: true },
    cache: { memory: 67_108_864 },
    http2: { initial_window_size: 65_536, max_concurrent_streams: 128, max_frame_size: 16_384, max_session_memory: 10_485_760, reset_burst: 1000, reset_rate: 33 }
  })
})

test('log.access: true, false or an absolute file path', () => {
  assert.equal(loadConfig({ ...minimal(), log: { access: '/var/log/switchyard/access.log' } }).log.access, '/var/log/switchyard/access.log')
  assert.equal(loadConfig({ ...minimal(), log: { access: false } }).log.access, false)
  assert.throws(() => loadConfig({ ...minimal(), log: { access: 'access.log' } }), (err: Error) => err.message.includes('config: log.access: must be true, false or an absolute file path'))
})

test('route cache: the key turns it on and takes its defaults', () => {
  const c = loadConfig({ ...minimal(), routes: [{ upstream: 'api', cache: {} }] })
  assert.deepEqual(c.routes[0]?.cache, { max_object: 8_388_608, store_set_cookie: false, heuristic: true, convert_head: true, hit_for_miss: 120_000, lock_timeout: 5000 })
})

test('health checks: defaults, and expect as status ranges', () => {
  const c = loadConfig({ ...minimal(), upstreams: { api: { servers: [{ url: 'http://a' }], health: { expect: '200-299, 304' } } } })
  assert.deepEqual(c.upstreams.api?.health, { path: '/', interval: 2000, timeout: 1000, healthy: 2, unhealthy: 3, expect: [[200, 299], [304, 304]], fail_open: false })
})

const adminCases: Array<{ name: string, admin: Record<string, unknown>, problem: string | undefined }> = [
  { name: 'loopback needs no token', admin: { host: '127.0.0.2' }, problem: undefined },
  { name: '::1 needs no token', admin: { host: '::1' }, problem: undefined },
  { name: 'all addresses need a token', admin: { host: '0.0.0.0' }, problem: 'admin.token: is required when admin.host (0.0.0.0) is not a loopback address' },
  { name: 'a LAN address needs a token', admin: { host: '10.0.0.5' }, problem: 'admin.token: is required when admin.host (10.0.0.5) is not a loopback address' },
  { name: 'a token makes it acceptable', admin: { host: '0.0.0.0', token: 'x'.repeat(16) }, problem: undefined },
  { name: 'a short token is refused', admin: { token: 'short' }, problem: 'admin.token: must be at least 16 characters' },
  { name: 'disabled needs nothing', admin: { host: '0.0.0.0', enabled: false }, problem: undefined }
]
for (const c of adminCases) {
  test(`admin: ${c.name}`, () => {
    const run = (): unknown => loadConfig({ ...minimal(), admin: c.admin })
    if (c.problem === undefined) assert.doesNotThrow(run)
    else assert.throws(run, (err: Error) => err.message.includes(`config: ${c.problem}`))
  })
}

test('hash defaults to hashing the client IP', () => {
  const c = loadConfig({ ...minimal(), upstreams: { api: { balance: 'hash', hash: {}, servers: [{ url: 'http://a' }] } } })
  assert.deepEqual(c.upstreams.api?.hash, { by: 'ip' })
})

const normalised: Array<{ name: string, input: Record<string, unknown>, expected: (c: ReturnType<typeof loadConfig>) => unknown, value: unknown }> = [
  {
    name: 'durations become milliseconds',
    input: { ...minimal(), upstreams: { api: { servers: [{ url: 'http://a' }], timeouts: { connect: '500ms', response: '1.5s', idle: '2m' } } }, shutdown: { drain_timeout: '1h' } },
    expected: (c) => [c.upstreams.api?.timeouts, c.shutdown.drain_timeout],
    value: [{ connect: 500, response: 1500, idle: 120_000 }, 3_600_000]
  },
  { name: 'sizes become bytes', input: { ...minimal(), body_highwater: '1mb' }, expected: (c) => c.body_highwater, value: 1_048_576 },
  { name: 'hidden header names are lower-cased', input: { ...minimal(), headers: { hide: ['Server', 'X-Powered-By'] } }, expected: (c) => c.headers.hide, value: ['server', 'x-powered-by'] },
  {
    name: 'a hash header name is lower-cased, a cookie name is kept',
    input: {
      ...minimal(),
      upstreams: {
        h: { balance: 'hash', hash: { by: 'header:X-User' }, servers: [{ url: 'http://a' }] },
        c: { balance: 'hash', hash: { by: 'cookie:SessionID' }, servers: [{ url: 'http://a' }] }
      },
      routes: [{ upstream: 'h' }, { upstream: 'c' }]
    },
    expected: (c) => [c.upstreams.h?.hash?.by, c.upstreams.c?.hash?.by],
    value: ['header:x-user', 'cookie:SessionID']
  },
  {
    name: 'route hosts are lower-cased without a trailing dot',
    input: { ...minimal(), routes: [{ match: { host: 'API.Example.COM.' }, upstream: 'api' }, { match: { host: '*.Example.com' }, upstream: 'api' }] },
    expected: (c) => c.routes.map((r) => r.match.host),
    value: ['api.example.com', '*.example.com']
  },
  {
    name: 'server URLs become origins (lower-case host, no default port, no trailing slash)',
    input: { ...minimal(), upstreams: { api: { servers: [{ url: 'HTTP://Backend.Local:80/' }, { url: 'https://b.local:8443' }] } } },
    expected: (c) => c.upstreams.api?.servers.map((s) => s.url),
    value: ['http://backend.local', 'https://b.local:8443']
  }
]

for (const c of normalised) {
  test(`normalises: ${c.name}`, () => {
    assert.deepEqual(c.expected(loadConfig(c.input)), c.value)
  })
}

test('the result is deep-frozen', () => {
  const c = loadConfig({ ...minimal(), trusted_proxies: ['10.0.0.0/8'] })
  for (const o of [c, c.listen, c.listen[0], c.upstreams, c.upstreams.api, c.upstreams.api?.servers[0], c.upstreams.api?.timeouts, c.routes[0]?.match, c.trusted_proxies, c.headers.hide]) {
    assert.ok(Object.isFrozen(o), JSON.stringify(o))
  }
  assert.throws(() => { (c.upstreams.api!.timeouts as { connect: number }).connect = 1 }, TypeError)
  assert.throws(() => { (c.routes as unknown[]).push({}) }, TypeError)
})

test('the input is neither changed nor frozen', () => {
  const input = minimal()
  const before = structuredClone(input)
  loadConfig(input)
  assert.deepEqual(input, before)
  assert.equal(Object.isFrozen(input.upstreams), false)
})

test('refuses a route without an upstream and names the key', () => {
  assert.throws(() => loadConfig({ upstreams: minimal().upstreams, routes: [{ match: { path: '/' } }] }),
    { code: 'SWY_CONFIG_INVALID', path: 'routes[0].upstream', reason: 'is required' })
})

const refused: Array<{ name: string, input: unknown, expected: readonly ConfigProblem[] }> = [
  { name: 'a top level that is no mapping', input: null, expected: [{ path: '', reason: 'must be a mapping (got null)' }] },
  { name: 'a whole number wanted', input: { ...minimal(), listen: [{ port: 80.5 }] }, expected: [{ path: 'listen[0].port', reason: 'must be a whole number (got 80.5)' }] },
  { name: 'a boolean wanted', input: { ...minimal(), headers: { via: 'no' } }, expected: [{ path: 'headers.via', reason: 'must be true or false (got "no")' }] },
  { name: 'an empty string', input: { ...minimal(), routes: [{ upstream: '' }] }, expected: [{ path: 'routes[0].upstream', reason: 'must not be empty' }] },
  { name: 'credentials in a server URL', input: { ...minimal(), upstreams: { api: { servers: [{ url: 'http://u:p@a' }] } } }, expected: [{ path: 'upstreams.api.servers[0].url', reason: 'must be an http(s) URL without credentials' }] },
  { name: 'a CIDR with three parts', input: { ...minimal(), trusted_proxies: ['10.0.0.0/8/9'] }, expected: [{ path: 'trusted_proxies[0]', reason: 'must be an IP address or CIDR such as 10.0.0.0/8' }] },
  {
    name: 'a missing upstreams key does not also blame the routes',
    input: { routes: [{ upstream: 'api' }] },
    expected: [{ path: 'upstreams', reason: 'is required' }]
  },
  {
    name: 'an unknown balance does not also blame the hash block',
    input: { ...minimal(), upstreams: { api: { balance: 'ring', hash: { by: 'ip' }, servers: [{ url: 'http://a' }] } } },
    expected: [{ path: 'upstreams.api.balance', reason: 'must be one of round-robin, weighted, least-conn, p2c, hash (got "ring")' }]
  },
  {
    name: 'cross-key rules still run when other keys fail',
    input: {
      listen: [{ port: 80 }, { port: 80 }],
      upstreams: { api: { hash: { by: 'ip' }, servers: [{ url: 'nope' }] } },
      routes: [{ upstream: 'web' }],
      workers: -1
    },
    expected: [
      { path: 'workers', reason: 'must be auto or a whole number from 1 to 256' },
      { path: 'upstreams.api.servers[0].url', reason: 'must be an http(s) URL such as http://127.0.0.1:9001 (the scheme is missing)' },
      { path: 'routes[0].upstream', reason: 'names unknown upstream "web" (defined: api)' },
      { path: 'upstreams.api.hash', reason: 'is only used with balance: hash' },
      { path: 'listen[1]', reason: 'duplicates listen[0] (0.0.0.0:80)' }
    ]
  },
  {
    name: 'several unknown keys, each with its own path',
    input: { ...minimal(), listen: [{ port: 80, hots: 'x', backlog: 5 }] },
    expected: [{ path: 'listen[0].hots', reason: 'unknown key (did you mean host?)' }, { path: 'listen[0].backlog', reason: 'unknown key' }]
  }
]

for (const c of refused) {
  test(`refuses: ${c.name}`, () => {
    assert.deepEqual(problemsOf(() => loadConfig(c.input)).map((p) => ({ ...p })), c.expected)
  })
}

test('the error message heads the problems with the source', () => {
  assert.throws(() => loadConfig({ ...minimal(), workers: 0, foo: 1 }, 'x.yaml'), {
    message: 'x.yaml: invalid configuration\nconfig: workers: must be auto or a whole number from 1 to 256\nconfig: foo: unknown key'
  })
})

const texts: Array<{ name: string, input: string, expected: unknown }> = [
  { name: 'YAML', input: 'a: 1\nb: [x, y]\n', expected: { a: 1, b: ['x', 'y'] } },
  { name: 'JSON', input: '{ "a": 1, "b": ["x", "y"] }', expected: { a: 1, b: ['x', 'y'] } },
  { name: 'a syntax error names line:column', input: 'a: 1\nb: [x\n', expected: [{ path: '', reason: 'syntax error at 3:1: Flow sequence in block collection must be sufficiently indented and end with a ]' }] },
  { name: 'a duplicate key names its path and lines', input: 'a:\n  - b: 1\n    c: 2\n    b: 3\n', expected: [{ path: 'a[0].b', reason: 'is given twice (lines 2 and 4)' }] },
  { name: 'a duplicate key on one line', input: '{ "a": 1, "a": 2 }', expected: [{ path: 'a', reason: 'is given twice (line 1)' }] },
  { name: 'an empty text', input: '', expected: [{ path: '', reason: 'the file is empty' }] },
  { name: 'only comments', input: '# nothing\n\n', expected: [{ path: '', reason: 'the file is empty' }] }
]

for (const c of texts) {
  test(`parseConfigText: ${c.name}`, () => {
    if (Array.isArray(c.expected)) assert.deepEqual(problemsOf(() => parseConfigText(c.input, 'f.yaml')).map((p) => ({ ...p })), c.expected)
    else assert.deepEqual(parseConfigText(c.input, 'f.yaml'), c.expected)
  })
}

test('loadConfigFile applies overrides before validation, so their errors name the key', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'swy-load-'))
  t.after(() => { rmSync(dir, { recursive: true, force: true }) })
  const file = join(dir, 'c.yaml')
  writeFileSync(file, 'workers: 2\nupstreams: { api: { servers: [{ url: "http://a" }] } }\nroutes: [{ upstream: api }]\n')
  assert.equal(loadConfigFile(file).workers, 2)
  assert.equal(loadConfigFile(file, { overrides: { workers: 5 } }).workers, 5)
  assert.throws(() => loadConfigFile(file, { overrides: { workers: 0 } }), { code: 'SWY_CONFIG_INVALID', path: 'workers' })
})

test('loadConfigFile refuses a missing file with the file name in the message', () => {
  assert.throws(() => loadConfigFile('/nonexistent/switchyard.yaml'),
    { code: 'SWY_CONFIG_INVALID', path: '', reason: 'cannot read the file: no such file', message: /^\/nonexistent\/switchyard\.yaml: invalid configuration/ })
})

test('rate_limit.ban: defaults filled in, durations in ms, action 403 also as a string', () => {
  const config = loadConfig({
    ...minimal(),
    routes: [
      { upstream: 'api', rate_limit: { rate: '10/s', ban: { after: 5 } } },
      { upstream: 'api', rate_limit: { key: 'header:X-User', rate: '10/s', ban: { after: 2, within: '10s', for: '2s', action: '403' } } },
      { upstream: 'api', rate_limit: { rate: '10/s', ban: { after: 1, action: 'close' } } },
      { upstream: 'api', rate_limit: { rate: '10/s' } }
    ]
  })
  assert.deepEqual(config.routes.map((r) => r.rate_limit?.ban), [
    { after: 5, within: 60_000, for: 600_000, action: 403 },
    { after: 2, within: 10_000, for: 2000, action: 403 },
    { after: 1, within: 60_000, for: 600_000, action: 'close' },
    undefined
  ])
  assert.equal(Object.hasOwn(config.routes[3]!.rate_limit!, 'ban'), false)
})
