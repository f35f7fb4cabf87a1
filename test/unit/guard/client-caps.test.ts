// Client caps: the socket-table parser (this host's real /proc format, IPv4 and IPv6), the connection census over an
// injected table, and the per-address in-flight slots released when the exchange ends.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, connect, type AddressInfo, type Socket } from 'node:net'
import { once } from 'node:events'
import pino from 'pino'
import { countEstablished, createConnectionCensus, createClientCaps } from '../../../src/guard/index.ts'
import { Exchange, DONE, NEXT, type Downstream, type LocalReplies } from '../../../src/pipeline/index.ts'
import type { ErrorCode } from '../../../src/errors/index.ts'

const silent = pino({ level: 'silent' })
const hex = (port: number): string => port.toString(16).toUpperCase().padStart(4, '0')

// Lines as this kernel writes them (little-endian x86-64): 127.0.0.1:8080 ← 127.0.0.7 (twice), a listener, a
// TIME_WAIT (06), another local port, and IPv6 ::1 and an IPv4-mapped 10.0.0.2.
const TCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5320 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 0700007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 5321 1 0000000000000000 20 4 30 10 -1
   2: 0100007F:1F90 0700007F:C351 01 00000000:00000000 00:00000000 00000000     0        0 5322 1 0000000000000000 20 4 30 10 -1
   3: 0100007F:1F90 0700007F:C352 06 00000000:00000000 00:00000000 00000000     0        0 0 3 0000000000000000
   4: 0100007F:1F91 0800007F:C353 01 00000000:00000000 00:00000000 00000000     0        0 5323 1 0000000000000000 20 4 30 10 -1
`
const TCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:1F90 00000000000000000000000001000000:D000 01 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 20 4 30 10 -1
   1: 0000000000000000FFFF00000100007F:1F90 0000000000000000FFFF00000200000A:D001 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0000000000000000 20 4 30 10 -1
`

test('countEstablished: ESTABLISHED connections to our ports, by remote address', () => {
  const counts = new Map<string, number>()
  countEstablished(TCP, new Set([hex(8080)]), counts)
  countEstablished(TCP6, new Set([hex(8080)]), counts)
  assert.deepEqual(Object.fromEntries(counts), { '127.0.0.7': 2, '::1': 1, '10.0.0.2': 1 })
})

test('countEstablished: reads this host\'s real table (a connection we open is counted)', async (t) => {
  const server = createServer((s) => { s.on('error', () => {}) })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.after(() => { server.close() })
  const port = (server.address() as AddressInfo).port
  const sockets: Socket[] = []
  for (let i = 0; i < 3; i++) {
    const s = connect({ port, host: '127.0.0.1', localAddress: '127.0.0.9' })
    await once(s, 'connect')
    sockets.push(s)
  }
  t.after(() => { for (const s of sockets) s.destroy() })
  const { readFile } = await import('node:fs/promises')
  const counts = new Map<string, number>()
  countEstablished(await readFile('/proc/net/tcp', 'latin1'), new Set([hex(port)]), counts)
  assert.equal(counts.get('127.0.0.9'), 3)
})

test('census: an address over the cap is reported until a later count finds it under', async (t) => {
  let tables = [TCP, TCP6]
  const census = createConnectionCensus({ ports: [8080], cap: 1, intervalMs: 10, log: silent, read: async () => tables })
  t.after(() => { census.close() })
  await census.start()
  assert.equal(census.over('127.0.0.7'), true)
  assert.equal(census.over('::1'), false)
  assert.equal(census.over('127.0.0.8'), false, 'port 8081 is not ours')
  tables = ['', '']
  for (let i = 0; i < 100 && census.over('127.0.0.7'); i++) await new Promise((resolve) => setTimeout(resolve, 10))
  assert.equal(census.over('127.0.0.7'), false)
})

test('census: an unreadable table enforces nothing (and does not throw)', async (t) => {
  const census = createConnectionCensus({ ports: [8080], cap: 1, intervalMs: 1000, log: silent, read: async () => { throw new Error('EACCES') } })
  t.after(() => { census.close() })
  await census.start()
  assert.equal(census.over('127.0.0.7'), false)
})

class Sink implements Downstream {
  onDrain: (() => void) | null = null
  status = 0
  start (): void {}
  write (): boolean { return true }
  end (): void {}
  abort (): void {}
  reply (status: number): void { this.status = status }
}

function exchange (ip: string, codes: ErrorCode[]): Exchange {
  const replies: LocalReplies = {
    reply (ex, code) { codes.push(code); ex.downstream.reply(429, [], '', false); ex.completed() },
    fault () {}
  }
  return new Exchange({
    method: 'GET', path: '/', query: '', host: 'h', headers: [], contentLength: -1, contentLengthCount: 0, chunked: false,
    peerIp: ip, tls: false, startTime: 0, body: null, downstream: new Sink(), replies, onComplete: () => {}
  })
}

test('in-flight cap: per address, the slot is freed when the exchange ends (answered or aborted)', () => {
  const caps = createClientCaps({ maxInflight: 2 })
  const codes: ErrorCode[] = []
  const a1 = exchange('10.0.0.1', codes)
  const a2 = exchange('10.0.0.1', codes)
  assert.equal(caps.run(a1), NEXT)
  assert.equal(caps.run(a2), NEXT)
  assert.equal(caps.run(exchange('10.0.0.1', codes)), DONE)
  assert.deepEqual(codes, ['SWY_CLIENT_INFLIGHT_LIMIT'])
  assert.equal(caps.run(exchange('10.0.0.2', codes)), NEXT, 'another address has its own slots')
  a1.completed()
  assert.equal(caps.run(exchange('10.0.0.1', codes)), NEXT, 'a finished request freed its slot')
  a2.clientAborted()
  a2.clientAborted()
  assert.equal(caps.run(exchange('10.0.0.1', codes)), NEXT, 'an aborted request freed its slot')
  assert.equal(caps.run(exchange('10.0.0.1', codes)), DONE, 'and only one: both slots are taken again')
  assert.equal(codes.length, 2)
})
