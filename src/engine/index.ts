// Public surface of engine/: which uWebSockets.js builds Switchyard runs on, and loading the one that fits.
export { loadEngine, loadNativeUws, engineWarnings, libcName, UwsUnavailableError, ENGINE_BUILDS, type UWS, type Engine, type EngineBuild, type EngineEnv } from './load.ts'
