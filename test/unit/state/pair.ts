// An in-memory IPC channel pair with JSON serialisation, as node:cluster's channel does, for in-process IPC tests.
import { EventEmitter } from 'node:events'
import type { IpcChannel } from '../../../src/state/index.ts'

export interface PairEnd extends IpcChannel { connected: boolean, send: (m: unknown) => boolean }

/** Two connected ends; a message sent on one arrives on the other on a later tick. `drop` swallows messages. */
export function ipcPair (): { a: PairEnd, b: PairEnd, drop: { value: boolean } } {
  const ea = new EventEmitter()
  const eb = new EventEmitter()
  const drop = { value: false }
  const end = (self: EventEmitter, peer: EventEmitter): PairEnd => ({
    connected: true,
    send (m) {
      const copy: unknown = JSON.parse(JSON.stringify(m))
      if (!drop.value) setImmediate(() => { peer.emit('message', copy) })
      return true
    },
    on (event, l) { self.on(event, l); return this },
    off (event, l) { self.off(event, l); return this }
  })
  return { a: end(ea, eb), b: end(eb, ea), drop }
}
