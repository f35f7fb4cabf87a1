// The CLI's side of the admin API: `switchyard reload` and the `switchyard register` sidecar. Each prints what a
// user needs and resolves (or exits with) the CLI's exit codes.
import { EXIT } from '../cluster/index.ts'

/** The address to reach a listener bound to `host` from this machine. */
export function connectHost (host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1'
  if (host === '::') return '[::1]'
  return host.includes(':') ? `[${host}]` : host
}

/** POSTs /api/reload and prints the outcome; resolves the exit code. */
export async function requestReload (base: string, token: string | undefined): Promise<number> {
  let res: Response
  try {
    res = await fetch(new URL('/api/reload', base), { method: 'POST', headers: token === undefined ? {} : { authorization: `Bearer ${token}` } })
  } catch (err) {
    const cause = (err as { cause?: { code?: string, message?: string } }).cause
    process.stderr.write(`switchyard: cannot reach the admin API at ${base}: ${cause?.code ?? cause?.message ?? (err as Error).message}\n`)
    return EXIT.STARTUP
  }
  const body = await res.json().catch(() => ({})) as { ok?: boolean, generation?: number, workers?: number, ms?: number, message?: string, problems?: Array<{ path: string, reason: string }> }
  if (res.ok && body.ok === true) {
    process.stdout.write(`reloaded: generation ${String(body.generation)} serves (${String(body.workers)} workers, ${String(body.ms)} ms); the previous one drains\n`)
    return EXIT.OK
  }
  if (res.status === 422) {
    process.stderr.write(`${body.message ?? 'invalid configuration'}\nreload refused: the running configuration keeps serving\n`)
    return EXIT.CONFIG
  }
  process.stderr.write(`switchyard: reload failed (HTTP ${res.status}): ${body.message ?? ''}\n`)
  return EXIT.STARTUP
}

/**
 * The registration sidecar: PUT /api/services/NAME/members every ttl/3 (so two heartbeats may be lost before the
 * member expires), and DELETE on SIGTERM/SIGINT. An unreachable proxy is retried, not fatal: it may be reloading
 * or restarting. A refusal (4xx) is: the arguments are wrong.
 */
export async function keepRegistered (o: { admin: string, token: string | undefined, service: string, member: string, ttlMs: number }): Promise<void> {
  const endpoint = new URL(`/api/services/${encodeURIComponent(o.service)}/members`, o.admin)
  const headers: Record<string, string> = { 'content-type': 'application/json', ...(o.token === undefined ? {} : { authorization: `Bearer ${o.token}` }) }
  const body = JSON.stringify({ url: o.member, ttl: `${o.ttlMs}ms` })
  let registered = false
  let timer: NodeJS.Timeout | undefined
  const beat = async (): Promise<void> => {
    try {
      const res = await fetch(endpoint, { method: 'PUT', headers, body, signal: AbortSignal.timeout(Math.max(1000, o.ttlMs / 3)) })
      const answer = await res.json().catch(() => ({})) as { message?: string }
      if (res.status >= 400 && res.status < 500) {
        process.stderr.write(`switchyard: registration refused (HTTP ${res.status}): ${answer.message ?? ''}\n`)
        process.exit(EXIT.USAGE)
      }
      if (!res.ok) throw new Error(`HTTP ${res.status}: ${answer.message ?? ''}`)
      if (!registered) process.stdout.write(`${JSON.stringify({ event: 'registered', service: o.service, url: o.member, ttlMs: o.ttlMs })}\n`)
      registered = true
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause
      process.stderr.write(`switchyard: heartbeat to ${o.admin} failed: ${cause?.code ?? (err as Error).message}; retrying\n`)
    }
    timer = setTimeout(() => { void beat() }, o.ttlMs / 3)
  }
  const leave = (): void => {
    clearTimeout(timer)
    fetch(endpoint, { method: 'DELETE', headers, body: JSON.stringify({ url: o.member }), signal: AbortSignal.timeout(2000) })
      .then(() => { process.stdout.write(`${JSON.stringify({ event: 'deregistered', service: o.service, url: o.member })}\n`) }, () => {})
      .finally(() => process.exit(EXIT.OK))
  }
  process.once('SIGTERM', leave)
  process.once('SIGINT', leave)
  await beat()
}

