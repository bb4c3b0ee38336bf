#!/usr/bin/env bash
# Runs a test in a fresh nested test host, and again in another (up to
# three hosts in all) when one hung as a whole (scripts/vmhost exit 124: no
# output for --idle-timeout; seen when the machine is loaded, twice in a
# row once in a fresh-clone CI run, and once in CI at the first guest of a
# gtest run, docs/architecture.md). A real failure of the test ends it at
# once with the test's own status.
# Usage: vmhost-retry.sh [--idle-timeout S] TIMEOUT_S SCRIPT.sh|PROGRAM [ARG]...
# (a .sh SCRIPT runs under bash; anything else runs as it is). The idle
# timeout is 400 s unless given.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/.." && pwd)
usage="usage: vmhost-retry.sh [--idle-timeout S] TIMEOUT_S SCRIPT.sh|PROGRAM [ARG]..."
idle=400
if [ "${1:-}" = --idle-timeout ]; then idle=${2:?$usage}; shift 2; fi
timeout=${1:?$usage}
shift
[ $# -gt 0 ] || { echo "$usage" >&2; exit 2; }
case $1 in *.sh) set -- bash "$@" ;; esac
for attempt in 1 2 3; do
  echo "=== test host attempt $attempt"
  "$src/scripts/vmhost" --timeout "$timeout" --idle-timeout "$idle" --mem 3072 --cpus 2 -- "$@"
  rc=$?
  [ $rc = 124 ] || exit $rc
done
exit 124
