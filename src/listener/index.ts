// Public surface of listener/: the engine-neutral Listener, and the uWS engine's (uws/). The engine loader lives in
// src/engine/ (the primary and the CLI use it without loading the data path).
export { DRAIN_ACCEPTED_MS, DRAIN_IDLE_MS, joinListeners, type Listener, type ListenerOptions, type ListenAddress, type ListenerState } from './listener.ts'
export { createUwsListener, type UwsListenerOptions } from './uws/listener.ts'
export { createNodeListener, type NodeListenerOptions } from './node/listener.ts'
export { certificateNames, tlsNamesByPort } from './tls-names.ts'
