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
# Both modes without a network: the sample compares the isolation models,
# not the bridge/tap setup (without this line both get the default bridge).
export HVRUN_NETWORK=none
# The test host's / is an overlay: container mode's overlayfs needs its
# store on a plain tmpfs.
mkdir -p "\$HVRUN_ROOT" && mount -t tmpfs tmpfs "\$HVRUN_ROOT"
"$HERE/scripts/make-busybox-rootfs.sh" /tmp/cs-rootfs >/dev/null
"$BUILD/cli/hvrun" image import /tmp/cs-rootfs --name busybox:latest >/dev/null
mkdir -p /tmp/cs
cd /tmp/cs
# The files so far, after each compare: a later hang loses only its part.
emit() { echo "=== TAR BEGIN"; tar cz -C /tmp/cs . | base64 -w 76; echo "=== TAR END"; }
"$BUILD/cli/hvrun" compare busybox -n $N --modes container,vm --timeout 120 --suite \
  --json suite.json --svg suite.svg --html suite.html --txt suite.txt 2>&1 | tr '\\r' '\\n' || true
emit
"$BUILD/cli/hvrun" compare busybox -n $N --modes container,vm --timeout 120 --no-report \
  --json true.json --svg true.svg --html true.html --txt true.txt -- true 2>&1 | tr '\\r' '\\n' || true
emit
INNER
)
"$HERE/scripts/vmhost" --timeout 1500 --idle-timeout 300 -- bash -c "$inner" | tee "$log"
mkdir -p "$OUT"
# The last complete block.
tr -d '\r' <"$log" | awk '/^=== TAR BEGIN/{b=""; on=1; next} /^=== TAR END/{last=b; on=0; next} on{b=b $0 "\n"} END{printf "%s", last}' |
  base64 -d | tar xz -C "$OUT"
echo "wrote $(ls "$OUT" | tr '\n' ' ')to $OUT"
