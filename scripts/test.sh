#!/bin/sh
# Runs the compiled tests, two files at a time: every file, or the files/directories given. Node 20 takes a directory
# after --test but Node 22+ takes only files and globs, so the list is made here and works on both.
set -eu
if [ $# -eq 0 ]; then set -- dist/test; fi
files=$(find "$@" -name '*.test.js' | sort)
[ -n "$files" ] || { echo "test.sh: no *.test.js under $*" >&2; exit 1; }
# Two files at a time: most of a file's time is spent waiting on the processes it starts (workers, backends, Redis),
# so on two cores two at a time takes about half as long, and the tests are written to pass under that contention.
# SWITCHYARD_TEST_CONCURRENCY=1 runs one at a time.
# shellcheck disable=SC2086
exec node --test --test-concurrency="${SWITCHYARD_TEST_CONCURRENCY:-2}" $files
