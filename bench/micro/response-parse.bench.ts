// One upstream response through the client's parser and the response-header filter, as the 100 B path does it: the
// head nginx's static backend sends, 100 body bytes, onWhole. Prints ns per response (median of rounds), and, with
// `--views`, what one field view costs made each way (Buffer.subarray against Buffer.from on the ArrayBuffer).
// Run: node dist/bench/micro/response-parse.bench.js [rounds] [--views]
import { Buffer } from 'node:buffer'
import { ResponseParser, type ParserSink } from '../../src/upstream/client/response-parser.ts'
import { createResponseHeaderFilter } from '../../src/upstream/index.ts'

const HEAD = 'HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Mon, 07 Dec 2026 12:55:36 GMT\r\n' +
  'Content-Type: application/octet-stream\r\nContent-Length: 100\r\nLast-Modified: Mon, 07 Dec 2026 12:13:56 GMT\r\n' +
  'Connection: keep-alive\r\nETag: "69390e54-64"\r\nAccept-Ranges: bytes\r\n\r\n'
const response = Buffer.from(`${HEAD}${'x'.repeat(100)}`, 'latin1')
// The socket's read buffer: the response sits at its start, as after one read.
const readBuffer = Buffer.allocUnsafe(128 * 1024)
response.copy(readBuffer, 0)

const filter = createResponseHeaderFilter({ hide: [], via: false })
let seen = 0
const sink: ParserSink = {
  onHead (_status, headers) { seen += filter(headers, 'id').headers.length },
  onBody (chunk) { seen += chunk.length; return true },
  onEnd () {},
  onWhole (_status, headers, body) { seen += filter(headers, 'id').headers.length + body.length }
}
const parser = new ResponseParser(sink)

function nsPer (n: number, fn: () => void): number {
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < n; i++) fn()
  return Number(process.hrtime.bigint() - t0) / n
}

const median = (a: number[]): number => [...a].sort((x, y) => x - y)[a.length >> 1]!
const rounds = Number(process.argv.find((a) => /^\d+$/.test(a)) ?? 7)
const parse = (): void => { parser.reset(sink, false); parser.execute(readBuffer, 0, response.length) }
nsPer(200_000, parse) // warm up
const times: number[] = []
for (let r = 0; r < rounds; r++) times.push(nsPer(500_000, parse))
console.log(`parse + filter one response: ${median(times).toFixed(0)} ns (median of ${rounds}; ${times.map((t) => t.toFixed(0)).join(' ')})`)

if (process.argv.includes('--views')) {
  const h = Buffer.allocUnsafe(300)
  let sum = 0
  const bySubarray = (): void => { for (let i = 0; i < 16; i++) sum += h.subarray(i * 10, i * 10 + 8).length }
  const byFrom = (): void => { const ab = h.buffer; const base = h.byteOffset; for (let i = 0; i < 16; i++) sum += Buffer.from(ab, base + i * 10, 8).length }
  const a: number[] = []
  const b: number[] = []
  for (let r = 0; r < rounds; r++) { a.push(nsPer(300_000, bySubarray) / 16); b.push(nsPer(300_000, byFrom) / 16) }
  console.log(`one view: subarray ${median(a).toFixed(1)} ns, Buffer.from(arrayBuffer, offset, length) ${median(b).toFixed(1)} ns (ratio ${(median(b) / median(a)).toFixed(2)})`)
  if (sum === 0) console.log('')
}
if (seen === 0) throw new Error('nothing parsed')
