// The live dashboard in a real browser (Debian's chromium through playwright-core, kept off the network by its
// flags): two instances sharing a Redis, the page of one asks for the token, shows the numbers /metrics of both
// show (within one refresh), turns a killed backend's row red within the health interval, and lists both hosts in
// the fleet view. A screenshot goes to test-output/dashboard.png.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { fileURLToPath } from 'node:url'
import { startBackend, startProxy, request, waitFor, type Handler } from '../helpers/index.ts'
import { startRedis } from '../helpers/redis.ts'
import { scrape, value } from '../helpers/metrics.ts'

const CHROMIUM = '/usr/bin/chromium'
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run']
const TOKEN = 'dashboard-test-token-0123456789'
const OUT = fileURLToPath(new URL('../../../test-output/', import.meta.url))

/** Debian 13 root of scripts/in-debian13.sh, which has no chromium (the host suite runs this test). */
function inDebian13Root (): boolean {
  try { return /^VERSION_ID="13"$/m.test(readFileSync('/etc/os-release', 'utf8')) } catch { return false }
}

const ok: Handler = (req, res) => { req.resume(); res.end('ok') }

test('dashboard: token, numbers matching /metrics of both hosts, a killed backend turning red, the fleet view', async (t) => {
  if (!existsSync(CHROMIUM)) {
    if (inDebian13Root()) {
      t.skip(`${CHROMIUM} is not in the Debian 13 root; this test runs in the host suite (.ci/run installs chromium there)`)
      return
    }
    assert.fail(`${CHROMIUM} is missing: install Debian's chromium package (.ci/run does)`)
  }
  const { chromium } = await import('playwright-core')
  const redis = await startRedis(t)
  const stays = await startBackend(t, ok)
  const dies = await startBackend(t, ok)
  const config = (token?: string): Record<string, unknown> => ({
    state: { redis: redis.url },
    ...(token === undefined ? {} : { admin: { token } }),
    upstreams: {
      web: {
        servers: [{ url: stays.url }, { url: dies.url }],
        balance: 'round-robin',
        health: { path: '/', interval: '200ms', timeout: '500ms', healthy: 1, unhealthy: 1 }
      }
    },
    routes: [{ match: { path: '/' }, upstream: 'web' }]
  })
  const a = await startProxy(t, config(TOKEN))
  const b = await startProxy(t, config())
  for (let i = 0; i < 12; i++) assert.equal((await request(`${a.url}/a${i}`)).status, 200)
  for (let i = 0; i < 7; i++) assert.equal((await request(`${b.url}/b${i}`)).status, 200)
  const total = async (adminUrl: string, token?: string): Promise<number> => value(await scrape(adminUrl, token), 'switchyard_requests_total', { route: '/' })
  await waitFor(async () => await total(a.adminUrl, TOKEN) === 12 && await total(b.adminUrl) === 7, 'both hosts\' /metrics', 15_000, 100)

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS })
  t.after(async () => { await browser.close() })
  const page = await browser.newPage()
  // Nothing but the admin listener: no CDN, no other host.
  const elsewhere: string[] = []
  page.on('request', (r) => { if (!r.url().startsWith(a.adminUrl)) elsewhere.push(r.url()) })
  await page.goto(`${a.adminUrl}/`)
  // The token is configured: the page asks for it.
  await page.locator('#login').waitFor({ state: 'visible', timeout: 15_000 })
  await page.fill('#token', TOKEN)
  await page.click('#login button')

  const hostA = `${hostname()}:${new URL(a.adminUrl).port}`
  const hostB = `${hostname()}:${new URL(b.adminUrl).port}`
  const cellText = async (selector: string): Promise<string | null> => await page.locator(selector).first().textContent({ timeout: 1000 }).catch(() => null)
  // The numbers shown are /metrics' numbers (traffic has stopped, so they must agree after one refresh or two).
  const shown = async (): Promise<{ route: string | null, a: string | null, b: string | null, fleet: string | null }> => ({
    route: await cellText('#routes tr[data-route="/"] td[data-field="requests"]'),
    a: await cellText(`#fleet tr[data-host="${hostA}"] td[data-field="requests"]`),
    b: await cellText(`#fleet tr[data-host="${hostB}"] td[data-field="requests"]`),
    fleet: await cellText('#fleet tr[data-host="fleet"] td[data-field="requests"]')
  })
  let last: unknown
  await waitFor(async () => {
    const s = await shown()
    last = { shown: s, metrics: [await total(a.adminUrl, TOKEN), await total(b.adminUrl)] }
    return s.route === String(await total(a.adminUrl, TOKEN)) && s.a === s.route && s.b === String(await total(b.adminUrl)) && s.fleet === '19'
  }, 'the page to show /metrics\' numbers', 15_000, 250).catch((err: Error) => { throw new Error(`${err.message}: ${JSON.stringify(last)}`) })
  // Both servers are up and shown with their latency.
  assert.equal(await page.locator('#servers tr.up').count(), 2)
  assert.match(await cellText(`#servers tr[data-server="${stays.url}"] td[data-field="p50"]`) ?? '', / ms$/)

  // A killed backend turns red within the health interval (200 ms; waited for with a generous bound).
  await dies.close()
  await page.locator(`#servers tr.down[data-server="${dies.url}"]`).waitFor({ timeout: 10_000 })
  assert.match(await cellText(`#servers tr[data-server="${dies.url}"] td[data-field="health"]`) ?? '', /^down/)
  assert.equal(await page.locator(`#servers tr.up[data-server="${stays.url}"]`).count(), 1)
  // The fleet view lists both hosts and their sum.
  assert.deepEqual(await page.locator('#fleet tbody tr').evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.host)), [hostA, hostB].sort().concat('fleet'))

  mkdirSync(OUT, { recursive: true })
  await page.screenshot({ path: `${OUT}dashboard.png`, fullPage: true })
  assert.deepEqual(elsewhere, [])
})
