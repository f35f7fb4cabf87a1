// Public surface of upstream/h2/: HTTP/2 to backends (upstreams.NAME.protocol h2 or h2c), one session per server and
// worker, and the upstream stage that uses it. Chosen per upstream at build time: the HTTP/1.1 path never looks at it.
export { createH2Servers, closeH2Servers, h2Address, H2Server, type H2Address } from './session.ts'
export { createH2Forward, type H2ForwardOptions } from './forward.ts'
