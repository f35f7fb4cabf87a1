// The live dashboard: one self-contained page (no CDN, no external file: it works offline) that the primary serves
// at `/` on the admin listener. It holds no data; it reads /api/dashboard/events (a server-sent event stream, one
// event a second) with fetch, so it can send the admin token, which it asks for when the API answers 401.
export const DASHBOARD_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Switchyard</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #1d232a; background: #f7f8fa; }
  h1 { font-size: 1.3em; margin: 0 0 .2em; } h2 { font-size: 1.05em; margin: 1.4em 0 .4em; }
  #meta { color: #59636e; }
  table { border-collapse: collapse; background: #fff; min-width: 60%; }
  th, td { padding: .3em .7em; border-bottom: 1px solid #e3e6ea; text-align: right; white-space: nowrap; }
  th:first-child, td:first-child, td.name { text-align: left; }
  th { background: #eef1f4; font-weight: 600; }
  tr.down td { background: #fde2e1; color: #8c1d18; }
  tr.sum td { font-weight: 600; border-top: 2px solid #c9ced4; }
  .health { font-weight: 600; } tr.up .health { color: #1a7f37; }
  #login { display: none; margin: 1em 0; padding: 1em; background: #fff; border: 1px solid #e3e6ea; }
  #status { color: #8c1d18; }
</style>
</head>
<body>
<h1>Switchyard <span id="host"></span></h1>
<div id="meta">connecting…</div>
<form id="login"><label>Admin token <input id="token" type="password" autocomplete="off" size="40"></label> <button type="submit">Connect</button> <span id="status"></span></form>
<h2>Fleet</h2>
<table id="fleet"><thead><tr><th>host</th><th>req/s</th><th>errors</th><th>p50</th><th>p95</th><th>p99</th><th>in flight</th><th>requests</th></tr></thead><tbody></tbody></table>
<h2>Routes (this host)</h2>
<table id="routes"><thead><tr><th>route</th><th>upstream</th><th>req/s</th><th>errors</th><th>p50</th><th>p95</th><th>p99</th><th>limited/s</th><th>cache hits</th><th>requests</th></tr></thead><tbody></tbody></table>
<h2>Servers (this host)</h2>
<table id="servers"><thead><tr><th>upstream</th><th>server</th><th>health</th><th>req/s</th><th>errors</th><th>p50</th><th>p95</th><th>p99</th><th>in flight</th><th>requests</th></tr></thead><tbody></tbody></table>
<script>
'use strict'
let token = sessionStorage.getItem('switchyard-token') || ''
const $ = (id) => document.getElementById(id)
const ms = (s) => s === null ? '–' : (s * 1000 < 10 ? (s * 1000).toFixed(2) : (s * 1000).toFixed(1)) + ' ms'
const pct = (r) => r === null ? '–' : (r * 100).toFixed(1) + ' %'
const num = (n) => n < 10 ? n.toFixed(1) : Math.round(n).toString()
function cell (text, field, cls) {
  const td = document.createElement('td')
  td.textContent = text
  if (field) td.dataset.field = field
  if (cls) td.className = cls
  return td
}
function fill (id, rows) {
  const body = $(id).tBodies[0]
  body.replaceChildren(...rows)
}
function statsCells (s) {
  return [cell(num(s.rps), 'rps'), cell(pct(s.errorRate), 'errorRate'), cell(ms(s.p50), 'p50'), cell(ms(s.p95), 'p95'), cell(ms(s.p99), 'p99')]
}
function render (v) {
  const self = v.self
  $('host').textContent = '· ' + self.host
  $('meta').textContent = 'generation ' + self.generation + ' · ' + self.workers + ' workers · ' + self.inflight + ' in flight · updated ' + new Date(self.at).toLocaleTimeString()
  const hostRow = (h, name, cls) => {
    const tr = document.createElement('tr')
    tr.dataset.host = name
    if (cls) tr.className = cls
    tr.append(cell(name, 'host', 'name'), ...statsCells(h), cell(String(h.inflight), 'inflight'), cell(String(h.requests), 'requests'))
    return tr
  }
  fill('fleet', [...v.fleet.hosts.map((h) => hostRow({ ...h.total, inflight: h.inflight }, h.host)), hostRow(v.fleet.total, 'fleet', 'sum')])
  fill('routes', self.routes.map((r) => {
    const tr = document.createElement('tr')
    tr.dataset.route = r.route
    tr.append(cell(r.route || '(no route)', 'route', 'name'), cell(r.upstream, 'upstream', 'name'), ...statsCells(r), cell(num(r.limitedPerS), 'limitedPerS'), cell(pct(r.hitRatio), 'hitRatio'), cell(String(r.requests), 'requests'))
    return tr
  }))
  fill('servers', self.servers.map((s) => {
    const tr = document.createElement('tr')
    const down = !s.up || s.ejected
    tr.className = down ? 'down' : 'up'
    tr.dataset.server = s.server
    tr.dataset.upstream = s.upstream
    const health = !s.up ? 'down' + (s.reason ? ': ' + s.reason : '') : s.ejected ? 'ejected' + (s.ejectReason ? ': ' + s.ejectReason : '') : 'up'
    tr.append(cell(s.upstream, 'upstream', 'name'), cell(s.server, 'server', 'name'), cell(health, 'health', 'health'), ...statsCells(s), cell(String(s.inflight), 'inflight'), cell(String(s.requests), 'requests'))
    return tr
  }))
}
async function connect () {
  let res
  try {
    res = await fetch('/api/dashboard/events', { headers: token ? { authorization: 'Bearer ' + token } : {} })
  } catch (err) { $('meta').textContent = 'disconnected; retrying…'; setTimeout(connect, 1000); return }
  if (res.status === 401) {
    $('login').style.display = 'block'
    $('status').textContent = token ? 'the token was refused' : ''
    $('meta').textContent = 'this proxy needs its admin token'
    return
  }
  $('login').style.display = 'none'
  const reader = res.body.getReader()
  const text = new TextDecoder()
  let buf = ''
  for (;;) {
    let r
    try { r = await reader.read() } catch { break }
    if (r.done) break
    buf += text.decode(r.value, { stream: true })
    let end
    while ((end = buf.indexOf('\\n\\n')) >= 0) {
      const event = buf.slice(0, end)
      buf = buf.slice(end + 2)
      const data = event.split('\\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\\n')
      if (data) render(JSON.parse(data))
    }
  }
  $('meta').textContent = 'disconnected; retrying…'
  setTimeout(connect, 1000)
}
$('login').addEventListener('submit', (e) => {
  e.preventDefault()
  token = $('token').value
  sessionStorage.setItem('switchyard-token', token)
  connect()
})
connect()
</script>
</body>
</html>
`
