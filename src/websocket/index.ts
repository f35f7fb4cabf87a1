// Public surface of websocket/: the stage that connects a handshake to its backend, and the relay between them.
export { createWebSocketStage, type WebSocketStageOptions } from './stage.ts'
export { createRelays, type Relays } from './relays.ts'
export { sendableCode, type WsMeter } from './relay.ts'
