// Child-process fixture: an embedded store served over this process's real IPC channel, standing in for the primary.
// Run by embedded-ipc.test.ts with fork(); without an IPC channel (the test runner loading it) it does nothing.
import { EmbeddedStore, attachStateWorker } from '../../../src/state/index.ts'

if (process.send !== undefined) {
  const store = new EmbeddedStore({ sweepMs: 1000 })
  attachStateWorker(store, process)
  process.once('disconnect', () => { process.exit(0) })
  process.send({ type: 'ready' })
}
