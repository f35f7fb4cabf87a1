// WebSockets across reloads and stops: 500 open sockets exchanging messages through 5 reloads are never cut while
// their generation drains, nor lose a message, and new upgrades go to the new generation; at the drain deadline (and
// on stop) the old generation closes its sockets with 1001 Going Away.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import WebSocket from 'ws'
import { startProxy, waitFor, type ProxyHandle } from '../helpers/index.ts'
import { startWsBackend, mustOpen, nextMessage, closed, wsUrl } from '../helpers/websocket.ts'

/** One client socket sending numbered messages in lockstep: the next only once the previous came back. */
class Talker {
  sent = 0
  echoed = 0
  wrong = 0
  close: { code: number, reason: string } | null = null
  #stop = false
  readonly ws: WebSocket
  readonly #id: number

  constructor (ws: WebSocket, id: number, everyMs: number) {
    this.ws = ws
    this.#id = id
    ws.on('message', (d: Buffer) => {
      if (d.toString() !== `${this.#id}:${this.echoed + 1}`) this.wrong++
      this.echoed++
      if (!this.#stop) setTimeout(() => { this.#send() }, everyMs)
    })
    ws.on('close', (code, reason) => { this.close = { code, reason: reason.toString() } })
    this.#send()
  }

  #send (): void {
    if (this.#stop || this.ws.readyState !== WebSocket.OPEN) return
    this.sent++
    this.ws.send(`${this.#id}:${this.sent}`)
  }

  stop (): void { this.#stop = true }
}

async function reload (proxy: ProxyHandle, n: number): Promise<void> {
  proxy.process.kill('SIGHUP')
  await waitFor(() => proxy.logs.filter((l) => l.event === 'reloaded').length >= n, `reload ${n}`, 30_000)
}

async function openTalkers (t: Parameters<typeof mustOpen>[0], url: string, n: number, everyMs: number): Promise<Talker[]> {
  const out: Talker[] = []
  for (let i = 0; i < n; i += 50) {
    const batch = await Promise.all(Array.from({ length: Math.min(50, n - i) }, async (_, k) => await mustOpen(t, url)))
    batch.forEach((ws, k) => out.push(new Talker(ws, i + k, everyMs)))
  }
  return out
}

test('500 open sockets exchanging messages through 5 reloads: none is cut, no message is lost, new upgrades go to the new generation', async (t) => {
  const backend = await startWsBackend(t)
  // The drain deadline is far beyond the test: any close while it runs is a cut.
  const proxy = await startProxy(t, { upstreams: { a: { servers: [{ url: backend.url }] } }, routes: [{ upstream: 'a' }], shutdown: { drain_timeout: '120s' }, log: { access: false } })
  const url = wsUrl(proxy.url)
  const talkers = await openTalkers(t, url, 500, 200)
  const firstWorker = proxy.workerPids()
  for (let r = 1; r <= 5; r++) {
    await reload(proxy, r)
    // Every old socket keeps exchanging messages after the reload...
    const mark = talkers.map((x) => x.echoed)
    await waitFor(() => talkers.every((x, i) => x.echoed > mark[i]! || x.close !== null), `every socket to exchange a message after reload ${r}`, 60_000)
    // ...and a new upgrade is served by the new generation (the old workers closed their listeners).
    const probe = await mustOpen(t, url)
    probe.send('probe')
    assert.equal((await nextMessage(probe)).data.toString(), 'probe')
    probe.close()
    await closed(probe)
  }
  assert.ok(firstWorker.every((pid) => proxy.workerPids().includes(pid)), 'the first generation still holds its sockets')
  for (const x of talkers) x.stop()
  // Lockstep: wait for the last message of each to come back.
  await waitFor(() => talkers.every((x) => x.echoed === x.sent || x.close !== null), 'the last echoes', 30_000)
  const cut = talkers.filter((x) => x.close !== null)
  assert.equal(cut.length, 0, `sockets cut: ${JSON.stringify(cut.slice(0, 5).map((x) => x.close))}`)
  assert.equal(talkers.reduce((s, x) => s + x.wrong, 0), 0, 'messages out of order or lost')
  assert.ok(talkers.every((x) => x.echoed >= 5))
  // Once its sockets close, the old generation exits: only the newest worker is left.
  for (const x of talkers) x.ws.close(1000)
  await waitFor(() => proxy.workerPids().length === 1 && !firstWorker.includes(proxy.workerPids()[0]!), 'the old generations to exit', 30_000)
})

test('at the drain deadline the old generation closes its sockets with 1001; so does a stop; clients reconnect to the new one', async (t) => {
  const backend = await startWsBackend(t)
  const proxy = await startProxy(t, { upstreams: { a: { servers: [{ url: backend.url }] } }, routes: [{ upstream: 'a' }], shutdown: { drain_timeout: '2s' }, log: { access: false } })
  const url = wsUrl(proxy.url)
  const talkers = await openTalkers(t, url, 20, 50)
  await reload(proxy, 1)
  await waitFor(() => talkers.every((x) => x.close !== null), 'the drain deadline to close every old socket', 30_000)
  for (const x of talkers) {
    assert.deepEqual(x.close, { code: 1001, reason: 'going away' })
    assert.equal(x.wrong, 0)
    // At most the one message in flight when the close came is unanswered.
    assert.ok(x.sent - x.echoed <= 1, `${x.sent} sent, ${x.echoed} echoed`)
  }
  const again = await mustOpen(t, url)
  again.send('again')
  assert.equal((await nextMessage(again)).data.toString(), 'again')
  const bye = closed(again)
  await proxy.close()
  assert.deepEqual(await bye, { code: 1001, reason: 'going away' })
  await waitFor(() => backend.closes.filter((c) => c.code === 1001).length >= 21, 'the backend to hear 1001 for each')
})
