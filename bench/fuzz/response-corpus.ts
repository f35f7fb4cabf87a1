// Backend responses, valid and invalid, for the upstream client's equivalence test (test/unit/upstream: our parser against undici's)
// and as seeds for the fuzzer's mutating backend. Each is the exact bytes a backend sends, then it closes.

export interface ResponseCase {
  readonly name: string
  /** The request method: HEAD answers have no body whatever they say. */
  readonly method: 'GET' | 'HEAD'
  /** The bytes, one char per byte (latin1). */
  readonly bytes: string
}

const CRLF = '\r\n'

function head (status: string, fields: readonly string[]): string {
  return `${status}${CRLF}${fields.map((f) => f + CRLF).join('')}${CRLF}`
}

function chunked (...chunks: string[]): string {
  return chunks.map((c) => `${c.length.toString(16)}${CRLF}${c}${CRLF}`).join('') + `0${CRLF}${CRLF}`
}

const cases: ResponseCase[] = []
const add = (name: string, bytes: string, method: 'GET' | 'HEAD' = 'GET'): void => { cases.push({ name, method, bytes }) }

// Valid: status lines.
const statusLines = [
  'HTTP/1.1 200 OK', 'HTTP/1.1 201 Created', 'HTTP/1.1 202 ', 'HTTP/1.1 203', 'HTTP/1.1 404 Not Found',
  'HTTP/1.1 500 Internal Server Error', 'HTTP/1.1 503 Service Unavailable', 'HTTP/1.1 599 Whatever',
  'HTTP/1.1 299 Odd But Fine', 'HTTP/1.1 302 Found', 'HTTP/1.1 200 OK with\tTAB', 'HTTP/1.1 200 caf\xe9',
  'HTTP/1.0 200 OK', 'HTTP/1.1 418 I\'m a teapot', 'HTTP/1.1 200 Many   spaces  here', 'HTTP/1.1 400 Bad Request'
]
// The reason is dropped (the client gets the proxy's own), so what it holds does not matter, as for llhttp.
statusLines.push('HTTP/1.1 200 O\x00K', 'HTTP/1.1 200 O\x01K', 'HTTP/1.1 200 O\x7fK')
for (const code of [100, 206, 300, 301, 303, 307, 308, 401, 403, 405, 409, 410, 413, 429, 451, 501, 502, 504]) {
  if (code >= 200) statusLines.push(`HTTP/1.1 ${code} Some Reason`)
}
for (const s of statusLines) add(`status line ${JSON.stringify(s)}`, head(s, ['Content-Length: 5']) + 'hello')

// Valid: bodies framed every way.
for (const n of [0, 1, 100, 4096]) add(`Content-Length ${n}`, head('HTTP/1.1 200 OK', [`Content-Length: ${n}`]) + 'b'.repeat(n))
add('chunked, one chunk', head('HTTP/1.1 200 OK', ['Transfer-Encoding: chunked']) + chunked('hello'))
add('chunked, three chunks', head('HTTP/1.1 200 OK', ['Transfer-Encoding: chunked']) + chunked('a', 'bc', 'def'))
add('chunked, empty body', head('HTTP/1.1 200 OK', ['Transfer-Encoding: chunked']) + `0${CRLF}${CRLF}`)
add('chunked, 5000-byte chunk', head('HTTP/1.1 200 OK', ['Transfer-Encoding: chunked']) + chunked('z'.repeat(5000)))
add('chunked, upper-case hex', head('HTTP/1.1 200 OK', ['Transfer-Encoding: chunked']) + `1A${CRLF}${'q'.repeat(26)}${CRLF}0${CRLF}${CRLF}`)
add('chunked, leading zeros', head('HTTP/1.1 200 OK', ['Transfer-Encoding: chunked']) + `0005${CRLF}hello${CRLF}0${CRLF}${CRLF}`)
add('chunked, extension', head('HTTP/1.1 200 OK', ['Transfer-Encoding: chunked']) + `5;name=value${CRLF}hello${CRLF}0${CRLF}${CRLF}`)
add('chunked, bare extension name', head('HTTP/1.1 200 OK', ['Transfer-Encoding: chunked']) + `5;ext${CRLF}hello${CRLF}0${CRLF}${CRLF}`)
add('chunked, quoted extension', head('HTTP/1.1 200 OK', ['Transfer-Encoding: chunked']) + `5;a="b c"${CRLF}hello${CRLF}0${CRLF}${CRLF}`)
add('chunked, trailer', head('HTTP/1.1 200 OK', ['Transfer-Encoding: chunked', 'Trailer: X-Sum']) + `5${CRLF}hello${CRLF}0${CRLF}X-Sum: 42${CRLF}${CRLF}`)
add('chunked, two trailers', head('HTTP/1.1 200 OK', ['Transfer-Encoding: chunked']) + `5${CRLF}hello${CRLF}0${CRLF}A: 1${CRLF}B: 2${CRLF}${CRLF}`)
add('chunked, Transfer-Encoding in capitals', head('HTTP/1.1 200 OK', ['Transfer-Encoding: CHUNKED']) + chunked('hello'))
add('chunked, lower-case field name', head('HTTP/1.1 200 OK', ['transfer-encoding: chunked']) + chunked('hello'))
add('close-delimited body', head('HTTP/1.1 200 OK', ['Content-Type: text/plain']) + 'until the end')
add('close-delimited, empty', head('HTTP/1.1 200 OK', ['Content-Type: text/plain']))
add('HTTP/1.0 close-delimited', head('HTTP/1.0 200 OK', []) + 'old style')
add('Connection: close with length', head('HTTP/1.1 200 OK', ['Connection: close', 'Content-Length: 3']) + 'abc')
add('HTTP/1.0 keep-alive with length', head('HTTP/1.0 200 OK', ['Connection: keep-alive', 'Content-Length: 3']) + 'abc')
add('bytes after a complete response', head('HTTP/1.1 200 OK', ['Content-Length: 3']) + 'abcGARBAGE')
add('a second response after the first', head('HTTP/1.1 200 OK', ['Content-Length: 3']) + 'abc' + head('HTTP/1.1 200 OK', ['Content-Length: 3']) + 'def')

// Valid: no body whatever the fields say.
add('204 No Content', head('HTTP/1.1 204 No Content', []))
add('204 with Content-Length', head('HTTP/1.1 204 No Content', ['Content-Length: 0']))
add('304 Not Modified with a length', head('HTTP/1.1 304 Not Modified', ['Content-Length: 1000', 'ETag: "x"']))
add('304 with chunked', head('HTTP/1.1 304 Not Modified', ['Transfer-Encoding: chunked']))
add('HEAD with Content-Length', head('HTTP/1.1 200 OK', ['Content-Length: 1000']), 'HEAD')
add('HEAD with chunked', head('HTTP/1.1 200 OK', ['Transfer-Encoding: chunked']), 'HEAD')
add('HEAD with neither', head('HTTP/1.1 200 OK', ['Content-Type: text/html']), 'HEAD')
add('HEAD 404', head('HTTP/1.1 404 Not Found', ['Content-Length: 9']), 'HEAD')

// Valid: interim answers before the final one.
add('100 Continue then 200', head('HTTP/1.1 100 Continue', []) + head('HTTP/1.1 200 OK', ['Content-Length: 2']) + 'ok')
add('103 Early Hints then 200', head('HTTP/1.1 103 Early Hints', ['Link: </s.css>; rel=preload']) + head('HTTP/1.1 200 OK', ['Content-Length: 2']) + 'ok')
add('two 1xx then 200', head('HTTP/1.1 100 Continue', []) + head('HTTP/1.1 102 Processing', []) + head('HTTP/1.1 201 Created', ['Content-Length: 0']))
add('100 then chunked 200', head('HTTP/1.1 100 Continue', []) + head('HTTP/1.1 200 OK', ['Transfer-Encoding: chunked']) + chunked('xy'))

// Valid: field shapes.
const fieldCases: Array<[string, string[]]> = [
  ['many fields', Array.from({ length: 40 }, (_, i) => `X-F${i}: v${i}`)],
  ['duplicate fields kept in order', ['Set-Cookie: a=1', 'Set-Cookie: b=2', 'Set-Cookie: c=3']],
  ['empty value', ['X-Empty:']],
  ['empty value after a space', ['X-Empty: ']],
  ['no space after the colon', ['X-Tight:value']],
  ['spaces around the value', ['X-Spaced:    padded   ']],
  ['tabs around the value', ['X-Tabs:\tpadded\t']],
  ['tab inside the value', ['X-Inner: a\tb']],
  ['obs-text in a value', ['X-Latin: caf\xe9 \xff']],
  ['value with every visible char', ['X-Vis: !"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~']],
  ['8 KiB value', [`X-Big: ${'v'.repeat(8192)}`]],
  ['token chars in a name', ['X-!#$%&\'*+-.^_`|~: ok']],
  ['mixed-case names', ['CoNtEnT-TyPe: text/plain', 'X-MiXeD: Yes']],
  ['Content-Length with OWS', ['Content-Length:   5  ']],
  ['Date and Server', ['Date: Mon, 01 Jan 2024 00:00:00 GMT', 'Server: test']],
  ['Connection names a field', ['Connection: x-drop', 'X-Drop: 1']],
  ['Keep-Alive field', ['Keep-Alive: timeout=5']],
  ['colon in the value', ['X-Url: http://a:80/b']]
]
for (const [name, fields] of fieldCases) {
  const f = fields.some((x) => /^content-length/i.test(x)) ? fields : [...fields, 'Content-Length: 5']
  add(`fields: ${name}`, head('HTTP/1.1 200 OK', f) + 'hello')
}

// Invalid: status lines.
const badStatus = [
  'HTTP/1.1 20 OK', 'HTTP/1.1 2000 OK', 'HTTP/1.1 abc OK', 'http/1.1 200 OK', 'HTTP/1.1  200 OK', 'HTTP/1.1200 OK',
  'HTTP/2.0 200 OK', 'HTTP/1.2 200 OK', 'HTTP/0.9 200 OK', 'HTTP/11 200 OK', 'HTTP 200 OK', 'ICY 200 OK', 'HTTP/1.1 099 Low',
  'HTTP/1.1 -20 OK', '', ' HTTP/1.1 200 OK', 'HTTP/1.1 600 Too High', 'HTTP/1.1 200\tOK',
  'HTTP/1.1 2 00 OK', 'HTTP/1.1 20a OK'
]
for (const s of badStatus) add(`bad status line ${JSON.stringify(s)}`, head(s, ['Content-Length: 5']) + 'hello')

// Invalid: line endings and control bytes.
add('bare LF line endings', 'HTTP/1.1 200 OK\nContent-Length: 5\n\nhello')
add('bare LF after the status line', 'HTTP/1.1 200 OK\nContent-Length: 5\r\n\r\nhello')
add('bare LF ending the head', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\nhello')
add('bare CR in the status line', 'HTTP/1.1 200 O\rK\r\nContent-Length: 5\r\n\r\nhello')
for (const [what, c] of [['NUL', '\x00'], ['CR', '\r'], ['LF', '\n'], ['BEL', '\x07'], ['DEL', '\x7f'], ['VT', '\x0b'], ['ESC', '\x1b'], ['FF', '\x0c']]) {
  add(`${what} in a value`, head('HTTP/1.1 200 OK', [`X-Bad: a${c}b`, 'Content-Length: 5']) + 'hello')
  add(`${what} in a name`, head('HTTP/1.1 200 OK', [`X-B${c}ad: ab`, 'Content-Length: 5']) + 'hello')
}
add('obs-fold', head('HTTP/1.1 200 OK', ['X-Folded: a', ' b', 'Content-Length: 5']) + 'hello')
add('obs-fold with a tab', head('HTTP/1.1 200 OK', ['X-Folded: a', '\tb', 'Content-Length: 5']) + 'hello')
add('obs-fold as the first line', head('HTTP/1.1 200 OK', [' X-Lead: a', 'Content-Length: 5']) + 'hello')
add('space before the colon', head('HTTP/1.1 200 OK', ['X-Space : a', 'Content-Length: 5']) + 'hello')
add('tab before the colon', head('HTTP/1.1 200 OK', ['X-Tab\t: a', 'Content-Length: 5']) + 'hello')
add('space before Content-Length colon', head('HTTP/1.1 200 OK', ['Content-Length : 5']) + 'hello')
add('a line without a colon', head('HTTP/1.1 200 OK', ['NoColonHere', 'Content-Length: 5']) + 'hello')
add('empty field name', head('HTTP/1.1 200 OK', [': novalue', 'Content-Length: 5']) + 'hello')
for (const c of ['(', ')', '<', '>', '@', ',', ';', '\\', '"', '/', '[', ']', '?', '=', '{', '}', '\xe9']) {
  add(`${JSON.stringify(c)} in a name`, head('HTTP/1.1 200 OK', [`X${c}Y: v`, 'Content-Length: 5']) + 'hello')
}

// Invalid: framing.
const badLengths = ['abc', '-1', '+5', '5 5', '0x5', '5.0', '', ' ', '1e3', '99999999999999999999', '٥']
for (const v of badLengths) add(`Content-Length ${JSON.stringify(v)}`, head('HTTP/1.1 200 OK', [`Content-Length: ${v}`]) + 'hello')
add('two differing Content-Lengths', head('HTTP/1.1 200 OK', ['Content-Length: 5', 'Content-Length: 6']) + 'hello!')
add('Content-Length list of two values', head('HTTP/1.1 200 OK', ['Content-Length: 5, 6']) + 'hello!')
add('Content-Length with Transfer-Encoding', head('HTTP/1.1 200 OK', ['Content-Length: 5', 'Transfer-Encoding: chunked']) + chunked('hello'))
add('Transfer-Encoding with Content-Length', head('HTTP/1.1 200 OK', ['Transfer-Encoding: chunked', 'Content-Length: 5']) + chunked('hello'))
add('Transfer-Encoding: gzip, chunked', head('HTTP/1.1 200 OK', ['Transfer-Encoding: gzip, chunked']) + chunked('hello'))
add('Transfer-Encoding: chunked, chunked', head('HTTP/1.1 200 OK', ['Transfer-Encoding: chunked, chunked']) + chunked('hello'))
add('Transfer-Encoding twice', head('HTTP/1.1 200 OK', ['Transfer-Encoding: chunked', 'Transfer-Encoding: chunked']) + chunked('hello'))
add('Transfer-Encoding: chunkedx', head('HTTP/1.1 200 OK', ['Transfer-Encoding: chunkedx']) + chunked('hello'))
add('body shorter than Content-Length', head('HTTP/1.1 200 OK', ['Content-Length: 10']) + 'short')
add('head cut off', 'HTTP/1.1 200 OK\r\nContent-Len')
add('status line cut off', 'HTTP/1.1 20')
add('nothing at all', '')
const te = head('HTTP/1.1 200 OK', ['Transfer-Encoding: chunked'])
add('chunk size not hex', te + `xyz${CRLF}hello${CRLF}0${CRLF}${CRLF}`)
add('chunk size empty', te + `${CRLF}hello${CRLF}0${CRLF}${CRLF}`)
add('chunk size negative', te + `-5${CRLF}hello${CRLF}0${CRLF}${CRLF}`)
add('chunk size with 0x', te + `0x5${CRLF}hello${CRLF}0${CRLF}${CRLF}`)
add('chunk size overflow', te + `ffffffffffffffffffff${CRLF}hello${CRLF}0${CRLF}${CRLF}`)
add('chunk data longer than its size', te + `3${CRLF}hello${CRLF}0${CRLF}${CRLF}`)
add('chunk data without CRLF', te + `5${CRLF}hello0${CRLF}${CRLF}`)
add('chunk size line with bare LF', te + `5\nhello${CRLF}0${CRLF}${CRLF}`)
add('chunk data followed by bare LF', te + `5${CRLF}hello\n0${CRLF}${CRLF}`)
add('chunk extension with a control byte', te + `5;a=\x01${CRLF}hello${CRLF}0${CRLF}${CRLF}`)
add('chunk extension with bare LF', te + `5;a\nb${CRLF}hello${CRLF}0${CRLF}${CRLF}`)
add('chunked, cut before the last chunk', te + `5${CRLF}hello${CRLF}`)
add('chunked, cut inside a chunk', te + `a${CRLF}hello`)
add('chunked, cut before the final CRLF', te + `5${CRLF}hello${CRLF}0${CRLF}`)
add('trailer with obs-fold', te + `5${CRLF}hello${CRLF}0${CRLF}A: 1${CRLF} folded${CRLF}${CRLF}`)
add('trailer without a colon', te + `5${CRLF}hello${CRLF}0${CRLF}nocolon${CRLF}${CRLF}`)
add('trailer with NUL', te + `5${CRLF}hello${CRLF}0${CRLF}A: a\x00b${CRLF}${CRLF}`)
add('chunk size with a space inside', te + `5 5${CRLF}hello${CRLF}0${CRLF}${CRLF}`)
add('chunk size line with only spaces', te + `  ${CRLF}hello${CRLF}0${CRLF}${CRLF}`)
add('chunk without size line', te + `hello${CRLF}0${CRLF}${CRLF}`)
add('chunked, last chunk without CRLF', te + `5${CRLF}hello${CRLF}0`)
add('chunk extension whitespace before the semicolon', te + `5 ;a=b${CRLF}hello${CRLF}0${CRLF}${CRLF}`)
add('trailer with a space before the colon', te + `5${CRLF}hello${CRLF}0${CRLF}A : 1${CRLF}${CRLF}`)
add('trailer with bare LF', te + `5${CRLF}hello${CRLF}0${CRLF}A: 1\n${CRLF}`)
add('unexpected 101', head('HTTP/1.1 101 Switching Protocols', ['Upgrade: websocket', 'Connection: Upgrade']))
add('head over 16 KiB in one field', head('HTTP/1.1 200 OK', [`X-Huge: ${'h'.repeat(17_000)}`, 'Content-Length: 0']))
add('head over 16 KiB in 200 fields', head('HTTP/1.1 200 OK', [...Array.from({ length: 200 }, (_, i) => `X-${i}: ${'v'.repeat(100)}`), 'Content-Length: 0']))
add('invalid after 100 Continue', head('HTTP/1.1 100 Continue', []) + 'HTTP/1.1 200 OK\nContent-Length: 0\n\n')
add('Content-Length and a 1xx', head('HTTP/1.1 103 Early Hints', []) + head('HTTP/1.1 200 OK', ['Content-Length: 4']) + 'four')
add('two identical Content-Lengths', head('HTTP/1.1 200 OK', ['Content-Length: 5', 'Content-Length: 5']) + 'hello')
add('Content-Length list of equal values', head('HTTP/1.1 200 OK', ['Content-Length: 5, 5']) + 'hello')
add('space inside a field name', head('HTTP/1.1 200 OK', ['X Y: 1', 'Content-Length: 5']) + 'hello')
add('status line with only a version', head('HTTP/1.1', ['Content-Length: 5']) + 'hello')
add('head ending in CR CR LF', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\r\n\r\nhello')
add('bad field in a 1xx', head('HTTP/1.1 103 Early Hints', ['Bad Name: 1']) + head('HTTP/1.1 200 OK', ['Content-Length: 0']))

export const RESPONSE_CORPUS: readonly ResponseCase[] = cases
