// The import rules `npm run lint:deps` checks (dependency-cruiser over src/ and workers/, type imports included:
// TypeScript 7 has no JavaScript API, so @swc/core parses). ARCHITECTURE.md explains the layering they keep.
/** Folders whose files define stages or assemble them: the data path the primary must never load. */
const DATA_PATH = '^src/(assemble|listener|guard|bans|router|ratelimit|balancer)/|^src/cache/(?!store/)|^src/upstream/(?!client/)'

module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      comment: 'Imports run one way (entry points → assemble → stages → pipeline, state, config), types included.',
      severity: 'error',
      from: {},
      to: { circular: true }
    },
    {
      name: 'primary-loads-no-stage',
      comment: 'The primary (supervision, health checks, admin API, purges) never carries traffic: nothing it imports may reach a stage.',
      severity: 'error',
      from: { path: '^workers/primary\\.ts$' },
      to: { path: DATA_PATH, reachable: true }
    },
    {
      name: 'stages-know-no-engine',
      comment: 'Only listener/ and engine/ know uWebSockets.js; stages see an Exchange and a Downstream.',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/(listener|engine)/' },
      to: { path: '^src/listener/|^node_modules/(uWebSockets\\.js|@btc-vision/uwebsockets\\.js)/' }
    },
    {
      name: 'src-imports-no-entry-point',
      comment: 'workers/ wires src/ together; src/ never reaches back into it.',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^workers/' }
    },
    {
      name: 'pipeline-imports-no-stage',
      comment: 'pipeline/ (Exchange, Stage, runner) is below every stage: it may use errors/ and nothing else of src/.',
      severity: 'error',
      from: { path: '^src/pipeline/' },
      to: { path: '^src/', pathNot: '^src/(pipeline|errors)/' }
    },
    {
      name: 'only-the-worker-assembles',
      comment: 'Turning a config into stage arrays is the worker entry\'s business (workers/proxy.ts).',
      severity: 'error',
      from: { pathNot: '^(src/assemble/|workers/proxy\\.ts$)' },
      to: { path: '^src/assemble/' }
    },
    {
      name: 'cache-store-needs-only-state',
      comment: 'The cache store side (store, memory, codec, purge) depends on state/ only, so the primary can purge through it.',
      severity: 'error',
      from: { path: '^src/cache/store/' },
      to: { path: '^src/', pathNot: '^src/(cache/store|state)/' }
    },
    {
      name: 'through-index-only',
      comment: 'A folder\'s index.ts is its public surface: other folders (and the entry points) import nothing else of it.',
      severity: 'error',
      from: { path: '^(src/([^/]+)/|workers/)' },
      to: { path: '^src/', pathNot: ['^src/$2/', '/index\\.ts$'] }
    }
  ],
  options: {
    parser: 'swc',
    tsPreCompilationDeps: true,
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^dist/' }
  }
}
