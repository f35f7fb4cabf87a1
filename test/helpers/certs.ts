// Certificates for TLS tests, made at test time with the openssl CLI into a temp dir (removed in t.after): a CA
// and leaf certificates it signs, P-256 keys. Nothing is checked in.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { X509Certificate } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestContext } from 'node:test'

const OPENSSL = '/usr/bin/openssl'

export interface CertFiles {
  readonly cert: string
  readonly key: string
  /** SHA-256 fingerprint as node:tls reports it (`getPeerCertificate().fingerprint256`). */
  readonly fingerprint256: string
}

export interface IssueOptions {
  /** subjectAltName entries; default `DNS:<name>`. */
  readonly sans?: readonly string[]
  /** Validity in days from now; a negative number makes an already expired certificate. Default 2. */
  readonly days?: number
  /** Encrypt the key with this passphrase. */
  readonly passphrase?: string
  /** File name stem (default: the name with `*` replaced). Issuing to the same stem again overwrites the files. */
  readonly file?: string
}

export interface TestPki {
  readonly dir: string
  /** The CA certificate (PEM file) that signs every leaf. */
  readonly ca: string
  /** Issues a leaf certificate for `name` (the CN), signed by the CA. */
  issue (name: string, o?: IssueOptions): CertFiles
  /** A fresh private key that matches no certificate. */
  strayKey (): string
  /** A second, unrelated CA (for "signed by someone else"). */
  otherCa (): { readonly ca: string, issue (name: string, o?: IssueOptions): CertFiles }
}

function openssl (args: readonly string[]): void {
  execFileSync(OPENSSL, args, { stdio: ['ignore', 'ignore', 'pipe'] })
}

/** OpenSSL 3.4 and later take explicit dates (`-not_before`/`-not_after`) and refuse a negative `-days`. */
const EXPLICIT_DATES = (() => {
  const m = /^OpenSSL (\d+)\.(\d+)/.exec(execFileSync(OPENSSL, ['version'], { encoding: 'utf8' }))
  return m !== null && (Number(m[1]) > 3 || (Number(m[1]) === 3 && Number(m[2]) >= 4))
})()

/** `YYYYMMDDHHMMSSZ`, `days` from now. */
function asn1Time (days: number): string {
  return new Date(Date.now() + days * 86_400_000).toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z'
}

/** The validity arguments of `openssl x509 -req`: `days` from now (negative: expired that long ago). */
function validity (days: number): string[] {
  if (days >= 0 || !EXPLICIT_DATES) return ['-days', String(days)]
  return ['-not_before', asn1Time(days - 1), '-not_after', asn1Time(days)]
}

function newKey (file: string, passphrase?: string): void {
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', file,
    ...(passphrase === undefined ? [] : ['-aes-128-cbc', '-pass', `pass:${passphrase}`])])
}

export function createPki (t: Pick<TestContext, 'after'>): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'swy-pki-'))
  t.after(() => { rmSync(dir, { recursive: true, force: true }) })
  let serial = 1

  const makeCa = (stem: string): { ca: string, issue: TestPki['issue'] } => {
    const ca = join(dir, `${stem}.crt`)
    const caKey = join(dir, `${stem}.key`)
    newKey(caKey)
    openssl(['req', '-x509', '-key', caKey, '-out', ca, '-days', '3', '-subj', `/CN=Switchyard test ${stem}`])
    const issue = (name: string, o: IssueOptions = {}): CertFiles => {
      const stemOf = o.file ?? name.replace(/\*/g, 'star')
      const key = join(dir, `${stemOf}.key`)
      const cert = join(dir, `${stemOf}.crt`)
      const csr = join(dir, `${stemOf}.csr`)
      const ext = join(dir, `${stemOf}.ext`)
      newKey(key, o.passphrase)
      openssl(['req', '-new', '-key', key, '-out', csr, '-subj', `/CN=${name}`, ...(o.passphrase === undefined ? [] : ['-passin', `pass:${o.passphrase}`])])
      writeFileSync(ext, `subjectAltName=${(o.sans ?? [`DNS:${name}`]).join(',')}\nbasicConstraints=CA:FALSE\n`)
      openssl(['x509', '-req', '-in', csr, '-CA', ca, '-CAkey', caKey, '-set_serial', String(serial++), '-out', cert,
        ...validity(o.days ?? 2), '-extfile', ext])
      return { cert, key, fingerprint256: new X509Certificate(readFileSync(cert)).fingerprint256 }
    }
    return { ca, issue }
  }

  const main = makeCa('ca')
  let stray = 0
  return {
    dir,
    ca: main.ca,
    issue: main.issue,
    strayKey () {
      const file = join(dir, `stray-${++stray}.key`)
      newKey(file)
      return file
    },
    otherCa: () => makeCa('other-ca')
  }
}
