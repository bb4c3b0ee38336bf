#!/usr/bin/env bash
# Pull and push of a ~200 MB multi-layer image (busybox + 4 layers of 50 MB
# random data, gzip) against a local docker-registry (plain HTTP on
# 127.0.0.1, storage in a temp dir), hvrun against skopeo/podman, paired
# rounds in alternating order, each side into fresh isolated storage:
#   pull: hvrun pull            vs  skopeo copy docker://... containers-storage:[overlay@ROOT+RUN]
#                                   (what podman pull does: fetch, verify, unpack)
#   push: hvrun push            vs  skopeo copy oci:LAYOUT docker://...  (upload only, no recompression)
#                               and podman push from containers-storage (recompresses: what podman users get)
# Each push goes to an emptied registry (restarted on a wiped storage dir), so
# no side can skip an upload by mounting or finding a blob. Prints each
# round's seconds and the median ratio hvrun / other (<= 1.0: hvrun as fast or faster).
#
#   scripts/bench-registry.sh [ROUNDS]    (default 5; HVRUN=path/to/hvrun; BENCH_MB=50 per layer, BENCH_LAYERS=4)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-5}
HVRUN=${HVRUN:-$PWD/build/cli/hvrun}
MB=${BENCH_MB:-50}
LAYERS=${BENCH_LAYERS:-4}
[ "$(id -u)" = 0 ] || { echo "bench-registry.sh: run as root" >&2; exit 1; }
[ -x "$HVRUN" ] || { echo "bench-registry.sh: $HVRUN missing (build first)" >&2; exit 1; }
for t in docker-registry skopeo podman python3; do
  command -v $t >/dev/null || { echo "bench-registry.sh: $t missing (scripts/setup.sh installs it)" >&2; exit 1; }
done

work=$(mktemp -d /var/tmp/hvrun-bench-registry.XXXXXX)
reg_pid=
cleanup() {
  [ -n "$reg_pid" ] && kill "$reg_pid" 2>/dev/null && wait "$reg_pid" 2>/dev/null || true
  for d in "$work"/cs-*; do
    [ -d "$d" ] && podman --root "$d/root" --runroot "$d/run" --storage-driver overlay system reset -f >/dev/null 2>&1 || true
  done
  umount -R "$work" 2>/dev/null || true
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
host=127.0.0.1:$port
cat > "$work/config.yml" <<YML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $work/data
http:
  addr: $host
YML
start_registry() {
  docker-registry serve "$work/config.yml" >>"$work/registry.log" 2>&1 &
  reg_pid=$!
  for _ in $(seq 200); do curl -sf "http://$host/v2/" >/dev/null && return; sleep 0.05; done
  echo "bench-registry.sh: docker-registry did not start" >&2; cat "$work/registry.log" >&2; exit 1
}
fresh_registry() {
  [ -n "$reg_pid" ] && { kill "$reg_pid"; wait "$reg_pid" 2>/dev/null || true; }
  rm -rf "$work/data"
  start_registry
}
secs() { python3 -c 'import time; print("%.3f" % time.monotonic())'; }
timed() { local s e; s=$(secs); "$@" >/dev/null 2>"$work/err" || { cat "$work/err" >&2; exit 1; }; e=$(secs); awk -v s=$s -v e=$e 'BEGIN { printf "%.3f", e - s }'; }
median() { sort -n | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
cs() { echo "containers-storage:[overlay@$1/root+$1/run]"; }

echo "== making the image: busybox + $LAYERS x $MB MB random layers"
scripts/make-busybox-rootfs.sh "$work/rootfs" >/dev/null
python3 tests/integration/make_oci_layout.py "$work/layout" "$work/rootfs" --random "$LAYERS:$MB"
du -sh "$work/layout/blobs" | awk '{ print "   compressed blobs: " $1 }'
fresh_registry
skopeo copy --quiet --dest-tls-verify=false "oci:$work/layout:latest" "docker://$host/bench:1"

pull_h=() pull_s=() ratios_pull=()
for i in $(seq "$ROUNDS"); do
  hroot="$work/hv-$i" cdir="$work/cs-$i"
  mkdir -p "$cdir"
  run_h() { timed "$HVRUN" --root "$hroot" pull "$host/bench:1"; }
  run_s() { timed skopeo copy --quiet --src-tls-verify=false "docker://$host/bench:1" "$(cs "$cdir")bench:1"; }
  if (( i % 2 )); then th=$(run_h); sync; ts=$(run_s); else ts=$(run_s); sync; th=$(run_h); fi
  sync
  r=$(awk -v a="$th" -v b="$ts" 'BEGIN { printf "%.3f", a / b }')
  echo "pull round $i: hvrun ${th}s  skopeo->containers-storage ${ts}s  ratio $r"
  ratios_pull+=("$r")
  [ "$i" = "$ROUNDS" ] || { rm -rf --one-file-system "$hroot"; podman --root "$cdir/root" --runroot "$cdir/run" --storage-driver overlay system reset -f >/dev/null 2>&1 || true; rm -rf --one-file-system "$cdir"; }
done
pull_ratio=$(printf '%s\n' "${ratios_pull[@]}" | median)

# Push: from the last round's stores.
hroot="$work/hv-$ROUNDS" cdir="$work/cs-$ROUNDS"
ratios_oci=() ratios_podman=()
for i in $(seq "$ROUNDS"); do
  rm -f "$hroot/registry/sources.json"
  push_h() { fresh_registry; th=$(timed "$HVRUN" --root "$hroot" push "$host/bench:1" "$host/h:$i"); }
  push_o() { fresh_registry; to=$(timed skopeo copy --quiet --dest-tls-verify=false "oci:$work/layout:latest" "docker://$host/s:$i"); }
  push_p() { fresh_registry; tp=$(timed podman --root "$cdir/root" --runroot "$cdir/run" --storage-driver overlay push --tls-verify=false docker.io/library/bench:1 "docker://$host/p:$i"); }
  if (( i % 2 )); then push_h; push_o; push_p; else push_p; push_o; push_h; fi
  ro=$(awk -v a="$th" -v b="$to" 'BEGIN { printf "%.3f", a / b }')
  rp=$(awk -v a="$th" -v b="$tp" 'BEGIN { printf "%.3f", a / b }')
  echo "push round $i: hvrun ${th}s  skopeo oci:->registry ${to}s (ratio $ro)  podman push ${tp}s (ratio $rp)"
  ratios_oci+=("$ro") ratios_podman+=("$rp")
done
echo "== median ratios (hvrun / other; <= 1.0 is the goal)"
echo "pull  vs skopeo copy docker:// containers-storage: $pull_ratio"
echo "push  vs skopeo copy oci: docker://:              $(printf '%s\n' "${ratios_oci[@]}" | median)"
echo "push  vs podman push:                             $(printf '%s\n' "${ratios_podman[@]}" | median)"
