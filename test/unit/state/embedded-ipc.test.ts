// The embedded store through a real IPC channel: a forked child plays the primary (embedded-primary.ts) and this
// process is the worker, with the same JSON serialisation node:cluster uses.
import { fork } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { createIpcState } from '../../../src/state/index.ts'
import { stateContract } from './contract.ts'

stateContract('embedded, over a real IPC channel', async () => {
  const child = fork(fileURLToPath(new URL('./embedded-primary.js', import.meta.url)), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const [ready] = await once(child, 'message') as [{ type?: string }]
  if (ready.type !== 'ready') throw new Error(`unexpected first message ${JSON.stringify(ready)}`)
  const state = createIpcState({ channel: child, timeoutMs: 2000 })
  return {
    state,
    async close () {
      await state.close()
      const exited = once(child, 'exit')
      child.disconnect()
      await exited
    }
  }
}, { twoClients: false })
