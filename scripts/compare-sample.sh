#!/usr/bin/env bash
# Generates docs/compare-sample/: `hvrun compare` of busybox in container and
# vm mode, both run inside the nested test host (scripts/vmhost) so that the
# two modes share one machine and one run. The test host's writes vanish at
# exit, so the results come back over its console as a base64 tar.
#   scripts/compare-sample.sh [OUTDIR] [N]    (as root, after a build)
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$HERE/docs/compare-sample}
N=${2:-3}
BUILD=${HVRUN_BUILD:-$HERE/build}
[ -x "$BUILD/cli/hvrun" ] && [ -x "$BUILD/compare/hvrun-suite" ] || { echo "build first ($BUILD)" >&2; exit 1; }
log=$(mktemp)
trap 'rm -f "$log"' EXIT
inner=$(cat <<INNER
set -e
export HVRUN_ROOT=/tmp/compare-sample-root
"$HERE/scripts/make-busybox-rootfs.sh" /tmp/cs-rootfs >/dev/null
"$BUILD/cli/hvrun" image import /tmp/cs-rootfs --name busybox:latest >/dev/null
mkdir -p /tmp/cs
cd /tmp/cs
"$BUILD/cli/hvrun" compare busybox -n $N --modes container,vm --suite \
  --json suite.json --svg suite.svg --html suite.html --txt suite.txt
"$BUILD/cli/hvrun" compare busybox -n $N --modes container,vm --no-report \
  --json true.json --svg true.svg --html true.html --txt true.txt -- true
echo "=== TAR BEGIN"
tar cz -C /tmp/cs . | base64 -w 76
echo "=== TAR END"
INNER
)
"$HERE/scripts/vmhost" --timeout 1500 --idle-timeout 300 -- bash -c "$inner" | tee "$log"
mkdir -p "$OUT"
sed -n '/^=== TAR BEGIN/,/^=== TAR END/p' "$log" | sed '1d;$d' | tr -d '\r' | base64 -d | tar xz -C "$OUT"
echo "wrote $(ls "$OUT" | tr '\n' ' ')to $OUT"
