// docker-compose.yml stays valid and starts the same programs the tests run (no Docker engine runs here): two
// Switchyard instances sharing the compose Redis, in front of demo backends that are services of the same file.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parse } from 'yaml'
import { runCli } from '../helpers/index.ts'

const root = fileURLToPath(new URL('../../../', import.meta.url))
const PROXIES = ['switchyard-a', 'switchyard-b']

interface Service {
  image?: string
  command?: string[]
  ports?: Array<string | { published?: number | string, target?: number | string }>
  depends_on?: Record<string, unknown> | string[]
}

/** The file as docker-compose resolves it (anchors and merges applied); `config` exits non-zero if it is invalid. */
function resolved (): Record<string, Service> {
  execFileSync('docker-compose', ['-f', `${root}docker-compose.yml`, 'config', '-q'], { encoding: 'utf8' })
  const out = execFileSync('docker-compose', ['-f', `${root}docker-compose.yml`, 'config'], { encoding: 'utf8' })
  return (parse(out) as { services: Record<string, Service> }).services
}

/** Published → target port pairs, in either of the forms docker-compose prints (`"8080:8080"` or a mapping). */
function portPairs (s: Service): Array<[number, number]> {
  return (s.ports ?? []).map((p) => {
    if (typeof p === 'string') {
      const [pub, target] = p.replace(/\/tcp$/, '').split(':').slice(-2)
      return [Number(pub), Number(target)]
    }
    return [Number(p.published), Number(p.target)]
  })
}

interface ProxyConfig {
  listen: Array<{ host: string, port: number }>
  upstreams: Record<string, { servers: Array<{ url: string }> }>
  routes: Array<{ rate_limit?: unknown }>
  state?: { redis?: string, prefix?: string }
}

test('docker-compose.yml validates and its commands exist and pass `switchyard check`', async () => {
  const services = resolved()
  const commands = Object.values(services).map((s) => s.command ?? [])
  const nodeCmds = commands.filter((c) => c[0] === 'node')
  assert.ok(nodeCmds.length >= 5, 'two proxies and three demo backends are node programs')
  for (const c of nodeCmds) assert.ok(existsSync(`${root}${c[1]!}`), `${c[1]!} is built by npm run build`)
  for (const c of nodeCmds.filter((c) => c[1] === 'dist/workers/cli.js')) {
    assert.deepEqual(c.slice(2, 4), ['start', '-c'])
    const r = await runCli(['check', '-c', `${root}${c[4]!}`])
    assert.equal(r.code, 0, r.stderr)
  }
})

test('`switchyard check -c` accepts every deploy/*.yaml', async () => {
  const files = readdirSync(`${root}deploy`).filter((f) => /\.ya?ml$/.test(f))
  assert.ok(files.length >= 2, `deploy/ holds the instances' configs (found ${files.join(', ')})`)
  for (const f of files) {
    const r = await runCli(['check', '-c', `${root}deploy/${f}`])
    assert.equal(r.code, 0, `deploy/${f}: ${r.stdout}${r.stderr}`)
  }
})

test('two Switchyard instances share the compose Redis and reach backends that are compose services', () => {
  const services = resolved()
  const redis = services.redis
  assert.ok(redis !== undefined, 'a redis service')
  assert.match(redis.image ?? '', /^redis:7/)
  assert.deepEqual(redis.command, ['redis-server', '--save', '', '--appendonly', 'no'], 'no persistence')

  const states: unknown[] = []
  const published = new Set<number>()
  for (const name of PROXIES) {
    const s = services[name]
    assert.ok(s !== undefined, `a ${name} service`)
    const cmd = s.command ?? []
    assert.deepEqual(cmd.slice(0, 4), ['node', 'dist/workers/cli.js', 'start', '-c'], `${name} starts like the tests do`)
    assert.equal(cmd.length, 5, `${name}: start -c FILE and nothing else`)
    const file = `${root}${cmd[4]!}`
    assert.ok(existsSync(file), `${name}: ${cmd[4]!} exists`)
    const config = parse(readFileSync(file, 'utf8')) as ProxyConfig

    assert.ok(config.state?.redis !== undefined, `${name}: state.redis is set`)
    const url = new URL(config.state.redis)
    assert.equal(url.hostname, 'redis', `${name}: state.redis names the compose redis service`)
    assert.ok(url.port === '' || url.port === '6379', `${name}: Redis's default port`)
    states.push(config.state)
    assert.ok(config.routes.some((r) => r.rate_limit !== undefined), `${name}: a route with a rate limit exercises the shared state`)

    const deps = Array.isArray(s.depends_on) ? s.depends_on : Object.keys(s.depends_on ?? {})
    assert.ok(deps.includes('redis'), `${name} depends on redis`)
    for (const [up, u] of Object.entries(config.upstreams)) {
      for (const server of u.servers) {
        const host = new URL(server.url).hostname
        const backend = services[host]
        assert.ok(backend !== undefined, `${name}: upstreams.${up} server ${server.url} is a compose service`)
        assert.ok(deps.includes(host), `${name} depends on ${host}`)
        const bc = backend.command ?? []
        if (bc[1] === 'dist/workers/demo-backend.js') assert.equal(bc[3], new URL(server.url).port, `${host} listens on the port ${name} uses`)
      }
    }

    const pairs = portPairs(s)
    assert.equal(pairs.length, 1, `${name} publishes one port`)
    const [pub, target] = pairs[0]!
    assert.ok(config.listen.some((l) => l.port === target), `${name}: published port ${pub} reaches a port its config listens on`)
    published.add(pub)
  }
  assert.deepEqual([...published].sort(), [8080, 8081], 'switchyard-a on 8080, switchyard-b on 8081')
  assert.deepEqual(states[0], states[1], 'both instances use the same Redis and prefix, so they share one budget')
})
