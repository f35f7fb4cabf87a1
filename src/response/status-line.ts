// `200 OK`: the status line uWS writes after `HTTP/1.1 `, for every code Node knows (others get `Unknown`).
import { STATUS_CODES } from 'node:http'

const STATUS_LINES: string[] = []
for (const code of Object.keys(STATUS_CODES)) STATUS_LINES[Number(code)] = `${code} ${STATUS_CODES[code]}`

export function statusLine (code: number): string {
  return STATUS_LINES[code] ?? `${code} Unknown`
}
