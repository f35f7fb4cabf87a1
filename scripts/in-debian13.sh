#!/usr/bin/env bash
# Runs a command with Node 24 inside the Debian 13 root (scripts/debian13-root.sh), with this checkout mounted at
# the same path, so dist/ and node_modules/ built on the host are used as they are (docs/engines.md).
#
#   scripts/in-debian13.sh scripts/test.sh [FILES...]     what `npm run test:node24` runs
#   scripts/in-debian13.sh --bench node dist/bench/load/run.js --tool wrk --pin
#
# /proc, /dev, /sys and the checkout are bind-mounted while any command runs in the root (several may, from one
# checkout or several) and unmounted when the last one exits, on every exit path, so the root can be deleted
# afterwards (never delete a root with anything still mounted in it).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)

opts=()
if [ "${1:-}" = --bench ]; then opts+=(--bench); shift; fi
[ $# -gt 0 ] || { echo "usage: $0 [--bench] COMMAND [ARG...]" >&2; exit 2; }

root=$("$here/scripts/debian13-root.sh" "${opts[@]}")
users="$root.users"
mkdir -p "$users"
me="$users/$$"

# Every run holds $root.lock shared for its whole life (an older copy of this script took it exclusively and
# remounted at will: it now waits for us, and we for it); mount points and who uses them change only under
# $root.mount.lock.
exec 7>"$root.lock"
flock -s 7
locked () { ( flock 8; "$@" ) 8>"$root.mount.lock"; }

# Users whose process is gone (a run killed with SIGKILL) no longer count.
prune () { local f; for f in "$users"/*; do [ -e "$f" ] || continue; kill -0 "${f##*/}" 2>/dev/null || rm -f "$f"; done; }

bind () {
  if ! mountpoint -q "$2"; then
    mkdir -p "$2"
    mount --rbind "$1" "$2"
    mount --make-rslave "$2"
  fi
}

enter () {
  prune
  echo "$here" > "$me"
  bind /proc "$root/proc"
  bind /dev "$root/dev"
  bind /sys "$root/sys"
  bind "$here" "$root$here"
}

leave () {
  rm -f "$me"
  prune
  local f still=0
  # This checkout stays mounted while another user runs from it.
  for f in "$users"/*; do [ -e "$f" ] && [ "$(cat "$f")" = "$here" ] && still=1; done
  [ "$still" = 1 ] || umount -R "$root$here" 2>/dev/null || umount -l "$root$here" || true
  if [ -z "$(ls -A "$users")" ]; then
    local m
    for m in sys dev proc; do umount -R "$root/$m" 2>/dev/null || umount -l "$root/$m" || true; done
  fi
}

trap 'locked leave' EXIT
trap 'exit 130' INT TERM
locked enter

status=0
chroot "$root" /usr/bin/env -i \
  PATH=/opt/node/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  HOME=/root TMPDIR=/tmp LANG=C.UTF-8 CI="${CI:-}" SWITCHYARD_RUNTIME=debian13 \
  /bin/bash -c 'cd "$1" && shift && exec "$@"' bash "$here" "$@" || status=$?
exit $status
