#!/bin/sh
# The suites whose answers depend on the listener's engine, run on the engine the default run does not use
# (README "Engines and HTTP/2"): the security suite and the request-handling files on the node engine (plain
# listeners get engine: node), and the TLS file on uWS's own TLS (http2: false). `npm test` runs everything else.
set -eu
SWITCHYARD_TEST_ENGINE=node scripts/test.sh dist/test/security \
  dist/test/integration/headers.test.js dist/test/integration/connection-close.test.js \
  dist/test/integration/request-limits.test.js dist/test/integration/limits.test.js \
  dist/test/integration/edge-safety.test.js dist/test/integration/path-normalisation.test.js \
  dist/test/integration/access-lists.test.js dist/test/integration/streaming.test.js \
  dist/test/integration/streaming-edges.test.js dist/test/integration/websocket.test.js \
  dist/test/integration/proxy-basic.test.js dist/test/integration/upstream-errors.test.js
SWITCHYARD_TEST_ENGINE=uws scripts/test.sh dist/test/integration/tls.test.js
