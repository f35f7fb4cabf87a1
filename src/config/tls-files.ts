// Certificate and key files named by the config, checked in Node when the config is loaded: uWS takes file names
// only, throws on a missing file in SSLApp and crashes the process on a bad one in addServerName (docs/uws.md §4),
// so nothing reaches it that Node has not read, parsed and matched first. Each problem names its key path.
import { readFileSync } from 'node:fs'
import { isAbsolute, resolve } from 'node:path'
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto'
import { createSecureContext } from 'node:tls'
import type { ConfigProblem } from './config-error.ts'
import type { Config } from './schema.ts'

export interface FileCheck {
  /** The config is refused for these. */
  readonly problems: ConfigProblem[]
  /** Loaded anyway; shown by `switchyard check` and logged by the primary. */
  readonly warnings: ConfigProblem[]
}

/** What a certificate pair turned out to be, for the listener: the names its certificate covers. */
export interface CertInfo {
  readonly x509: X509Certificate
  /** SHA-256 fingerprint, as `AA:BB:…`. */
  readonly fingerprint256: string
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] extends object ? Mutable<T[K]> : T[K] }

/**
 * Makes every TLS file path of `config` absolute (relative ones are from `baseDir`, the config file's directory) and
 * checks the files. Runs before the config is frozen: it rewrites the paths in place.
 */
export function checkTlsFiles (config: Config, baseDir: string, now = Date.now()): FileCheck {
  const out: FileCheck = { problems: [], warnings: [] }
  const abs = (f: string): string => isAbsolute(f) ? f : resolve(baseDir, f)
  const c = config as Mutable<Config>
  c.listen.forEach((l, i) => {
    const t = l.tls
    if (t === undefined) return
    const at = `listen[${i}].tls`
    if (t.cert !== undefined && t.key !== undefined) {
      t.cert = abs(t.cert)
      t.key = abs(t.key)
      checkCertPair({ cert: t.cert, key: t.key, passphrase: t.passphrase }, at, now, [], out)
    }
    t.certificates.forEach((e, j) => {
      e.cert = abs(e.cert)
      e.key = abs(e.key)
      checkCertPair({ cert: e.cert, key: e.key, passphrase: e.passphrase }, `${at}.certificates[${j}]`, now, e.hosts, out)
    })
  })
  for (const [name, u] of Object.entries(c.upstreams)) {
    const at = `upstreams.${name}.tls`
    const https = u.servers.some((s) => s.url.startsWith('https:'))
    const t = u.tls
    if (t === undefined) continue
    if (!https && u.discover === undefined) out.warnings.push({ path: at, reason: 'is unused: no server of this upstream is https://' })
    if (!t.verify) out.warnings.push({ path: `${at}.verify`, reason: 'is false: the servers\' certificates are not checked (anyone on the path can impersonate them)' })
    if (t.ca !== undefined) {
      t.ca = abs(t.ca)
      checkCa(t.ca, `${at}.ca`, now, out)
    }
    if (t.cert !== undefined && t.key !== undefined) {
      t.cert = abs(t.cert)
      t.key = abs(t.key)
      checkCertPair({ cert: t.cert, key: t.key, passphrase: t.passphrase }, at, now, [], out)
    }
  }
  return out
}

export interface CertPair { readonly cert: string, readonly key: string, readonly passphrase?: string | undefined }

/**
 * Reads and checks one certificate/key pair: both readable, the certificate PEM, the key PEM (decrypted with the
 * passphrase), the key matching the certificate, and OpenSSL accepting the pair. Expired or not yet valid
 * certificates and `hosts` the certificate does not cover are warnings. Returns the certificate when usable.
 */
export function checkCertPair (pair: CertPair, at: string, now: number, hosts: readonly string[], out: FileCheck): CertInfo | undefined {
  const certPem = readFile(pair.cert, `${at}.cert`, out)
  const keyPem = readFile(pair.key, `${at}.key`, out)
  if (certPem === undefined || keyPem === undefined) return undefined
  const x509 = parseCert(certPem, pair.cert, `${at}.cert`, out)
  let key: KeyObject | undefined
  if (!keyPem.includes('-----BEGIN') || !keyPem.includes('PRIVATE KEY-----')) {
    out.problems.push({ path: `${at}.key`, reason: `${pair.key} is not a PEM private key` })
  } else if (pair.passphrase === undefined && /ENCRYPTED/.test(keyPem)) {
    out.problems.push({ path: `${at}.key`, reason: `${pair.key} is encrypted: set passphrase` })
  } else {
    try {
      key = createPrivateKey(pair.passphrase === undefined ? { key: keyPem } : { key: keyPem, passphrase: pair.passphrase })
    } catch (err) {
      const code = (err as { code?: string }).code
      // A wrong passphrase usually fails the cipher's padding check ("bad decrypt"), but about 1 in 256 times the
      // garbage pads correctly and the decoder fails instead ("DECODER routines::unsupported"): for an encrypted
      // key with a passphrase given, any failure is the passphrase (or a damaged file), said with OpenSSL's words.
      const reason = code === 'ERR_MISSING_PASSPHRASE'
        ? `${pair.key} is encrypted: set passphrase`
        : pair.passphrase !== undefined && /ENCRYPTED/.test(keyPem)
          ? `${pair.key} does not decrypt with the passphrase given (${(err as Error).message})`
          : `${pair.key} is not a usable private key (${(err as Error).message})`
      out.problems.push({ path: `${at}.key`, reason })
    }
  }
  if (x509 === undefined || key === undefined) return undefined
  if (!x509.checkPrivateKey(key)) {
    out.problems.push({ path: `${at}.key`, reason: `${pair.key} does not match the certificate in ${pair.cert}` })
    return undefined
  }
  try {
    createSecureContext({ cert: certPem, key: keyPem, ...(pair.passphrase === undefined ? {} : { passphrase: pair.passphrase }) })
  } catch (err) {
    out.problems.push({ path: at, reason: `OpenSSL refuses the certificate and key: ${(err as Error).message}` })
    return undefined
  }
  validity(x509, `${at}.cert`, pair.cert, now, out)
  hosts.forEach((h, i) => {
    // A wildcard entry is covered when a name under it is (by a wildcard SAN or, unusually, by that name itself).
    const probe = h.startsWith('*.') ? `swy-check${h.slice(1)}` : h
    if (x509.checkHost(probe) === undefined) {
      out.warnings.push({ path: `${at}.hosts[${i}]`, reason: `${h} is not covered by the certificate (${x509.subjectAltName ?? x509.subject.replace(/\n/g, ', ')})` })
    }
  })
  return { x509, fingerprint256: x509.fingerprint256 }
}

/** A CA bundle: readable, at least one PEM certificate, and every certificate in it accepted by OpenSSL. */
function checkCa (file: string, at: string, now: number, out: FileCheck): void {
  const pem = readFile(file, at, out)
  if (pem === undefined) return
  const x509 = parseCert(pem, file, at, out)
  if (x509 === undefined) return
  try {
    createSecureContext({ ca: pem })
  } catch (err) {
    out.problems.push({ path: at, reason: `OpenSSL refuses ${file}: ${(err as Error).message}` })
    return
  }
  validity(x509, at, file, now, out)
}

function readFile (file: string, at: string, out: FileCheck): string | undefined {
  try {
    return readFileSync(file, 'latin1')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message
    out.problems.push({ path: at, reason: `cannot read ${file} (${code})` })
    return undefined
  }
}

function parseCert (pem: string, file: string, at: string, out: FileCheck): X509Certificate | undefined {
  // uWS (OpenSSL's *_file loaders) reads PEM only; Node would also take DER.
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    out.problems.push({ path: at, reason: `${file} is not a PEM certificate (no BEGIN CERTIFICATE line)` })
    return undefined
  }
  try {
    return new X509Certificate(pem)
  } catch (err) {
    out.problems.push({ path: at, reason: `${file} is not a valid certificate (${(err as Error).message})` })
    return undefined
  }
}

/**
 * Expired or not yet valid: a warning, not a refusal. Refusing would turn one host's stale certificate into an
 * outage of every host at the next restart; the clients of that host fail either way.
 */
function validity (x509: X509Certificate, at: string, file: string, now: number, out: FileCheck): void {
  if (Date.parse(x509.validTo) < now) out.warnings.push({ path: at, reason: `${file}: the certificate expired on ${x509.validTo}` })
  else if (Date.parse(x509.validFrom) > now) out.warnings.push({ path: at, reason: `${file}: the certificate is not valid before ${x509.validFrom}` })
}
