#!/usr/bin/env bash
# The API path's cost (issue 13): `docker run --rm IMAGE true` (Debian's
# docker CLI) through hvrun serve, against hvrun's own CLI (`hvrun run --rm
# IMAGE true`) and against the same docker CLI through podman's Docker API
# (`podman system service`, runc), paired and interleaved (the order
# rotating each round) in one run, and the docker CLI's own floor (`docker
# ps -q` through hvrun serve). As root.
#
#   scripts/bench-serve.sh [N]     (N rounds, default 20)
#
# Each side keeps a store of its own under a temporary directory; nothing
# of the machine's is touched.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-20}
[[ $N =~ ^[0-9]+$ ]] && [ "$N" -ge 1 ] || { echo "bench-serve.sh: N must be a positive number" >&2; exit 2; }
HV=${HVRUN:-$PWD/build/cli/hvrun}
[ -x "$HV" ] || { echo "bench-serve.sh: $HV is not built (scripts/setup.sh)" >&2; exit 2; }
command -v docker >/dev/null || { echo "bench-serve.sh: no docker CLI (scripts/setup.sh installs docker.io)" >&2; exit 2; }
DOCKER=/usr/bin/docker
work=$(mktemp -d /tmp/bench-serve.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  podman_ rm -af -t 0 >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
podman_() {
  podman --root "$work/storage" --runroot "$work/run" --tmpdir "$work/tmp" --storage-driver vfs \
    --cgroup-manager cgroupfs --events-backend none --runtime runc "$@"
}
scripts/make-busybox-rootfs.sh "$work/rootfs" >/dev/null
export HVRUN_NETWORK=none
"$HV" --root "$work/hv" image import "$work/rootfs" --name busybox >/dev/null
"$HV" --root "$work/hv" serve --host "unix://$work/hv.sock" 2>"$work/serve.log" & pids+=($!)
tar -C "$work/rootfs" -cf "$work/bb.tar" .
podman_ import -q "$work/bb.tar" docker.io/library/busybox:latest >/dev/null
podman_ system service --time 0 "unix://$work/podman.sock" 2>"$work/podman.log" & pids+=($!)
for s in hv.sock podman.sock; do
  for _ in $(seq 100); do [ -S "$work/$s" ] && break; sleep 0.1; done
  [ -S "$work/$s" ] || { echo "bench-serve.sh: $s did not appear" >&2; exit 1; }
done
ms() { local t0 t1; t0=$(date +%s%N); "$@" >/dev/null; t1=$(date +%s%N); echo $(((t1 - t0) / 1000000)); }
via_hvrun_serve() { DOCKER_HOST="unix://$work/hv.sock" DOCKER_CONFIG="$work/dc" "$DOCKER" run --rm busybox true; }
via_hvrun_cli() { "$HV" --root "$work/hv" run --rm busybox true; }
# podman's service asks for rlimits above what some hosts allow: the same
# modest ones as bench-oci.sh.
via_podman_api() {
  DOCKER_HOST="unix://$work/podman.sock" DOCKER_CONFIG="$work/dc" "$DOCKER" run --rm --network none \
    --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 busybox true
}
# The docker CLI's own floor: one `docker ps -q` through hvrun serve (the
# Go binary's start, a ping and one list).
docker_cli_floor() { DOCKER_HOST="unix://$work/hv.sock" DOCKER_CONFIG="$work/dc" "$DOCKER" ps -q; }
ways=(via_hvrun_serve via_hvrun_cli via_podman_api docker_cli_floor)
for w in "${ways[@]}"; do  # warm each, and check it works
  "$w" >/dev/null 2>"$work/err" || { echo "bench-serve.sh: $w failed: $(cat "$work/err")" >&2; exit 1; }
done
declare -A t
for i in $(seq "$N"); do
  k=${#ways[@]}
  for j in $(seq 0 $((k - 1))); do
    w=${ways[$(((i + j) % k))]}
    t[$w]+="$(ms "$w") "
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
echo "bench-serve.sh: $N rounds, medians in ms of 'run --rm busybox true' (docker_cli_floor: 'docker ps -q')"
for w in "${ways[@]}"; do printf '%-18s %8s\n' "$w" "$(echo "${t[$w]}" | median)"; done
s=$(echo "${t[via_hvrun_serve]}" | median); c=$(echo "${t[via_hvrun_cli]}" | median); p=$(echo "${t[via_podman_api]}" | median)
echo "docker CLI via hvrun serve / hvrun CLI: $(awk -v a="$s" -v b="$c" 'BEGIN {printf "%.2fx", a / b}')"
echo "docker CLI via hvrun serve / via podman's API: $(awk -v a="$s" -v b="$p" 'BEGIN {printf "%.2fx", a / b}')"
