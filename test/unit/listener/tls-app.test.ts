// The worker checks certificate files again right before uWS reads them: a file that broke after the config was
// loaded must be an Error naming the key path, never a uWS crash (addServerName segfaults on a bad file).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { loadNativeUws } from '../../../src/engine/index.ts'
import { createTlsApp } from '../../../src/listener/uws/tls.ts'
import { createPki } from '../../helpers/certs.ts'

const uws = loadNativeUws()
const handler = () => ({ any: (res: { end (s: string): void }) => { res.end('') }, ws: undefined })

test('good files: an SSLApp, and the names its certificates cover', (t) => {
  const pki = createPki(t)
  const local = pki.issue('localhost', { sans: ['DNS:localhost', 'IP:127.0.0.1'] })
  const b = pki.issue('*.b.test')
  const r = createTlsApp(uws, { cert: local.cert, key: local.key, certificates: [{ hosts: ['x.b.test', 'only-sni.test'], cert: b.cert, key: b.key }] }, 'listen[0]', handler)
  assert.deepEqual([...r.names].sort(), ['*.b.test', '127.0.0.1', 'localhost', 'only-sni.test', 'x.b.test'])
})

test('files broken after load: an Error with the key path, before uWS sees them', (t) => {
  const pki = createPki(t)
  const local = pki.issue('localhost')
  const a = pki.issue('a.test')
  const garbage = join(pki.dir, 'garbage.crt')
  writeFileSync(garbage, 'not a certificate\n')
  const cases: Array<{ name: string, tls: Parameters<typeof createTlsApp>[1], message: RegExp }> = [
    { name: 'SNI cert not PEM', tls: { cert: local.cert, key: local.key, certificates: [{ hosts: ['a.test'], cert: garbage, key: a.key }] }, message: /^listen\[2\]\.tls\.certificates\[0\]\.cert: .*garbage\.crt is not a PEM certificate/ },
    { name: 'SNI key of another cert', tls: { cert: local.cert, key: local.key, certificates: [{ hosts: ['a.test'], cert: a.cert, key: local.key }] }, message: /^listen\[2\]\.tls\.certificates\[0\]\.key: .* does not match/ },
    { name: 'default cert gone', tls: { cert: join(pki.dir, 'gone.crt'), key: local.key, certificates: [] }, message: /^listen\[2\]\.tls\.cert: cannot read .*gone\.crt \(ENOENT\)/ }
  ]
  for (const c of cases) {
    assert.throws(() => createTlsApp(uws, c.tls, 'listen[2]', handler), { message: c.message }, c.name)
  }
})
