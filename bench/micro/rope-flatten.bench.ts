// What a line's pieces cost when it is written (src/log/access.ts): V8 builds `a + b` of 13 characters or more as a
// rope (a tree of the pieces) and flattens it, walking every piece, when the line is encoded into the log's buffer.
// The same ~300-byte line, built three ways from fresh per-line values, then encoded with Buffer's utf8Write:
// from ~33 pieces (each field and the text between fields one piece, as the line was), from ~19 (runs of fields
// that repeat already made into one flat piece each, as it is), and from 3 (the bound on what a template can do).
// Alternating rounds in one process; prints ns per line, medians, and the ratios.
import { Buffer } from 'node:buffer'

const N = 300_000
const buf = Buffer.allocUnsafeSlow(1 << 20) as Buffer & { utf8Write (s: string, offset: number): number }
/** A flat string of its own, as the engine makes a request's strings. */
const fresh = (s: string): string => Buffer.from(s).toString('latin1')
const ANY = /(?:)/
/** Made flat in place (V8 flattens a regular expression's subject). */
const flat = (s: string): string => { ANY.test(s); return s }

const prefix = flat(`{"level":30,"time":"${new Date(0).toISOString()}","role":"worker","worker":1,"generation":1,"kind":"access","reqId":"`)
const ids = Array.from({ length: 1000 }, (_, i) => fresh(`Qk3x9bZa-${(50_000 + i).toString(36)}`))
const traces = Array.from({ length: 1000 }, (_, i) => fresh(`00-${(0x10000000 + i).toString(16)}a1b2c3d4e5f6a7b8c9d0e1f2-b7ad6b7169203331-01`))
const ip = fresh('127.0.0.1')
const method = fresh('GET')
const host = fresh('127.0.0.1:18081')
const path = fresh('/100b')
const who = flat(`","client":"${ip}","method":"${method}","host":"${host}","path":"`)
const how = flat(',"proto":"http/1.1","status":200,"bytes":')
const where = flat(',"route":"/","upstream":"http://127.0.0.1:18080","attempts":1')
// Durations as the line prints them, made once: this bench is about pieces, not number conversions.
const times = Array.from({ length: 8 }, (_, i) => fresh(String(i / 10)))

const lines: Record<string, (i: number) => string> = {
  pieces33: (i) => {
    let line = `${prefix}${ids[i % 1000]!}","client":"${ip}","method":"${method}","host":"${host}","path":"${path}"`
    line += `,"proto":"${'http/1.1'}","status":${200},"bytes":${100 + (i & 1)},"requestBytes":${45}`
    line += `,"traceparent":"${traces[i % 1000]!}"`
    line += `${',"route":"/"'}${',"upstream":"http://127.0.0.1:18080"'},"attempts":${1}`
    return `${line},"ttfbMs":${times[i & 7]!},"ms":${times[i & 3]!}}\n`
  },
  pieces19: (i) => {
    let line = `${prefix}${ids[i % 1000]!}${who}${path}"`
    line += `${how}${100 + (i & 1)},"requestBytes":${45}`
    line += `,"traceparent":"${traces[i % 1000]!}"`
    line += where
    return `${line},"ttfbMs":${times[i & 7]!},"ms":${times[i & 3]!}}\n`
  },
  pieces3: (i) => `${prefix}${ids[i % 1000]!}${',"client":"127.0.0.1","method":"GET","host":"127.0.0.1:18081","path":"/100b","proto":"http/1.1","status":200,"bytes":100,"requestBytes":45,"traceparent":"00-100003e7a1b2c3d4e5f6a7b8c9d0e1f2-b7ad6b7169203331-01","route":"/","upstream":"http://127.0.0.1:18080","attempts":1,"ttfbMs":0.3,"ms":0.2}\n'}`
}

function run (make: (i: number) => string): number {
  let at = 0
  const start = performance.now()
  for (let i = 0; i < N; i++) {
    if (at > buf.length - 4096) at = 0
    at += buf.utf8Write(make(i), at)
  }
  return (performance.now() - start) * 1e6 / N
}

const names = Object.keys(lines)
const ns: Record<string, number[]> = Object.fromEntries(names.map((k) => [k, []]))
for (const k of names) run(lines[k]!) // warm-up
for (let round = 0; round < 9; round++) {
  for (const k of round % 2 === 0 ? names : [...names].reverse()) ns[k]!.push(run(lines[k]!))
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const m = Object.fromEntries(names.map((k) => [k, median(ns[k]!)]))
console.log(`${names.map((k) => `${k} ${m[k]!.toFixed(0)} ns`).join(', ')} per line built and encoded; pieces33 / pieces19 ${(m.pieces33! / m.pieces19!).toFixed(2)}x (medians of 9 alternating rounds of ${N}, Node ${process.versions.node})`)
