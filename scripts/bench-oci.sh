#!/usr/bin/env bash
# hvrun-oci against runc (and crun) as podman's OCI runtime: `podman run
# --rm --net none IMAGE true` with each runtime, paired and interleaved (the
# order rotating each round) in one run, and the raw runtime alone: create +
# start + wait for exit + delete of one bundle. Goal (issue 14):
# hvrun-oci <= 0.8x runc. As root.
#
#   scripts/bench-oci.sh [N]     (N rounds, default 20)
#
# podman keeps a store of its own under a temporary directory (vfs,
# cgroupfs, no systemd, no events); nothing of the machine's is touched.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-20}
[[ $N =~ ^[0-9]+$ ]] && [ "$N" -ge 1 ] || { echo "bench-oci.sh: N must be a positive number" >&2; exit 2; }
OCI=${HVRUN_OCI:-$PWD/build/oci/hvrun-oci}
[ -x "$OCI" ] || { echo "bench-oci.sh: $OCI is not built (scripts/setup.sh)" >&2; exit 2; }
runtimes=("$OCI")
for r in runc crun; do command -v $r >/dev/null && runtimes+=("$(command -v $r)"); done
[ ${#runtimes[@]} -ge 2 ] || { echo "bench-oci.sh: no runc or crun to compare with" >&2; exit 2; }
work=$(mktemp -d /tmp/bench-oci.XXXXXX)
trap 'podman_ rm -af -t 0 >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
podman_() {
  podman --root "$work/storage" --runroot "$work/run" --tmpdir "$work/tmp" --storage-driver vfs \
    --cgroup-manager cgroupfs --events-backend none "$@"
}
scripts/make-busybox-rootfs.sh "$work/rootfs" >/dev/null
tar -C "$work/rootfs" -cf "$work/bb.tar" .
podman_ import -q "$work/bb.tar" localhost/bb:latest >/dev/null
# podman asks for rlimits above what some container hosts allow; runc and
# crun and hvrun-oci apply them: the same modest ones for all.
ulimits=(--ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
ms() { local t0 t1; t0=$(date +%s%N); "$@" >/dev/null; t1=$(date +%s%N); echo $(((t1 - t0) / 1000000)); }
usable=()
for r in "${runtimes[@]}"; do  # warm, and leave out a runtime this host cannot use (saying why)
  if err=$(podman_ --runtime "$r" run --rm --net none "${ulimits[@]}" localhost/bb true 2>&1 >/dev/null); then
    usable+=("$r")
  else
    echo "bench-oci.sh: left out $(basename "$r"): $err"
  fi
done
runtimes=("${usable[@]}")
[ ${#runtimes[@]} -ge 2 ] && [ "${runtimes[0]}" = "$OCI" ] || { echo "bench-oci.sh: nothing to compare" >&2; exit 1; }

# The runtime alone on one bundle (what the engine's shim calls).
mkdir -p "$work/bundle"
cp -a "$work/rootfs" "$work/bundle/rootfs"
(cd "$work/bundle" && runc spec && python3 - <<'PY'
import json
c = json.load(open("config.json"))
c["process"]["terminal"] = False
c["process"]["args"] = ["true"]
json.dump(c, open("config.json", "w"))
PY
)
raw() {  # RUNTIME ID
  "$1" --root "$work/state-$(basename "$1")" run --bundle "$work/bundle" "$2" </dev/null >/dev/null
}

declare -A podman_ms raw_ms
for i in $(seq "$N"); do
  k=${#runtimes[@]}
  for j in $(seq 0 $((k - 1))); do
    r=${runtimes[$(((i + j) % k))]}
    podman_ms[$r]+="$(ms podman_ --runtime "$r" run --rm --net none "${ulimits[@]}" localhost/bb true) "
    raw_ms[$r]+="$(ms raw "$r" "b$i") "
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
echo "bench-oci.sh: $N rounds, medians in ms (podman run --rm; the runtime's own run of one bundle)"
base_p=$(echo "${podman_ms[$OCI]}" | median)
base_r=$(echo "${raw_ms[$OCI]}" | median)
printf '%-28s %10s %10s\n' runtime "podman" "raw run"
for r in "${runtimes[@]}"; do
  printf '%-28s %10s %10s\n' "$(basename "$r")" "$(echo "${podman_ms[$r]}" | median)" "$(echo "${raw_ms[$r]}" | median)"
done
for r in "${runtimes[@]:1}"; do
  p=$(echo "${podman_ms[$r]}" | median); q=$(echo "${raw_ms[$r]}" | median)
  echo "hvrun-oci / $(basename "$r"): podman run $(awk -v a="$base_p" -v b="$p" 'BEGIN {printf "%.2fx", a / b}'), raw run $(awk -v a="$base_r" -v b="$q" 'BEGIN {printf "%.2fx", a / b}')"
done
