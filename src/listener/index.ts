// Public surface of listener/.
export { loadNativeUws, UwsUnavailableError, type UWS } from './uws.ts'
export { createListener, type Listener, type ListenerOptions, type ListenAddress } from './app.ts'
export type { ListenerState } from './uws-downstream.ts'
