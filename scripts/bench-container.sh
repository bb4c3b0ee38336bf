#!/usr/bin/env bash
# Container start+exit latency: `hvrun --container --rm --net none busybox
# /bin/true` against `runc run` (and crun, when it runs on this host) and
# `bwrap`, all on the same busybox rootfs, N interleaved runs in one go.
# Prints medians and ratios vs runc. As root.
#
# Like with like: runc's bundle has a network namespace with nothing in it,
# which is hvrun's --net none. The bridge network's cost has rows of its own:
# hvrun-bridge (hvrun's default network: veth + bridge + address) against
# runc-veth (the same bundle with a createRuntime hook that plugs a veth into
# a bridge and gives it an address, as a CNI bridge plugin would).
#
#   scripts/bench-container.sh [N]      (default 20; HVRUN=path/to/hvrun)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-20}
HVRUN=${HVRUN:-$PWD/build/cli/hvrun}
[ "$(id -u)" = 0 ] || { echo "bench-container.sh: run as root" >&2; exit 1; }
[ -x "$HVRUN" ] || { echo "bench-container.sh: $HVRUN missing (build first)" >&2; exit 1; }

work=$(mktemp -d /tmp/hvrun-bench.XXXXXX)
br=hvbench$$
trap 'ip link del "$br" 2>/dev/null; rm -rf --one-file-system "$work"' EXIT
bundle=$work/bundle
scripts/make-busybox-rootfs.sh "$bundle/rootfs" >/dev/null
root=$work/store
"$HVRUN" --root "$root" image import "$bundle/rootfs" --name busybox:latest >/dev/null

(cd "$bundle" && runc spec)
sed -i -e 's/"terminal": true/"terminal": false/' -e 's/"sh"$/"\/bin\/true"/' "$bundle/config.json"

# runc-veth: the same rootfs, plus a hook that wires a veth into bridge $br
# (10.231.0.1/16, no traffic leaves it) the way a CNI bridge plugin does.
ip link add "$br" type bridge
ip addr add 10.231.0.1/16 dev "$br"
ip link set "$br" up
cat > "$work/veth-hook" <<HOOK
#!/bin/sh
pid=\$(sed -n 's/.*"pid": *\([0-9]*\).*/\1/p')
host=hvb\$pid
ip link add "\$host" type veth peer name eth0 netns "\$pid" || exit 1
ip link set "\$host" master $br up || exit 1
nsenter -t "\$pid" -n sh -c "ip link set lo up && ip addr add 10.231.\$((pid / 250 % 250 + 1)).\$((pid % 250 + 2))/16 dev eth0 && ip link set eth0 up && ip route add default via 10.231.0.1"
HOOK
chmod 755 "$work/veth-hook"
mkdir -p "$work/bundle-veth"
python3 - "$bundle/config.json" "$work/bundle-veth/config.json" "$work/veth-hook" "$bundle/rootfs" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["root"]["path"] = sys.argv[4]
c.setdefault("hooks", {})["createRuntime"] = [{"path": sys.argv[3]}]
json.dump(c, open(sys.argv[2], "w"))
PY

tools=(hvrun runc)
crun_ok=0
if crun run --bundle "$bundle" hvrun-bench-crun-probe >/dev/null 2>"$work/crun.err"; then
  crun_ok=1
  tools+=(crun)
else
  echo "crun: does not run here: $(head -n1 "$work/crun.err")"
fi
tools+=(bwrap hvrun-bridge runc-veth)
# Where hvrun's time goes: the same run without the seccomp filter (compiled
# once by libseccomp, then loaded from /run/hvrun/seccomp: the warm-up run
# below fills that cache), and without a network namespace as well.
tools+=(hvrun-noseccomp hvrun-noseccomp-nethost)

run_one() {
  case $1 in
    hvrun) "$HVRUN" --root "$root" --container --rm --net none busybox /bin/true ;;
    runc) runc run --bundle "$bundle" "hvrun-bench-$2" ;;
    hvrun-bridge) "$HVRUN" --root "$root" --container --rm --net bridge busybox /bin/true ;;
    runc-veth) runc run --bundle "$work/bundle-veth" "hvrun-bench-veth-$2" ;;
    crun) crun run --bundle "$bundle" "hvrun-bench-crun-$2" ;;
    hvrun-noseccomp) "$HVRUN" --root "$root" --container --rm --security-opt seccomp=unconfined --net none busybox /bin/true ;;
    hvrun-noseccomp-nethost)
      "$HVRUN" --root "$root" --container --rm --security-opt seccomp=unconfined --net host busybox /bin/true ;;
    bwrap) bwrap --bind "$bundle/rootfs" / --proc /proc --dev /dev --unshare-all --die-with-parent /bin/true ;;
  esac
}

declare -A times
for t in "${tools[@]}"; do run_one "$t" warm >/dev/null; done  # warm caches
for i in $(seq 1 "$N"); do
  for t in "${tools[@]}"; do
    s=$EPOCHREALTIME
    run_one "$t" "$i" >/dev/null
    e=$EPOCHREALTIME
    times[$t]+="$(echo "$s $e" | awk '{printf "%.3f", ($2-$1)*1000}') "
  done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'; }
runc_med=$(echo "${times[runc]}" | median)
veth_med=$(echo "${times[runc-veth]}" | median)
echo "N=$N interleaved runs of /bin/true on the same busybox rootfs ($(uname -r))"
printf "%-24s %10s %8s %s\n" tool "median ms" "ratio" "vs"
for t in "${tools[@]}"; do
  m=$(echo "${times[$t]}" | median)
  base=$runc_med; vs=runc
  case $t in hvrun-bridge|runc-veth) base=$veth_med; vs=runc-veth ;; esac
  printf "%-24s %10s %7sx %s\n" "$t" "$m" "$(awk -v a="$m" -v b="$base" 'BEGIN{printf "%.2f", a/b}')" "$vs"
done
[ $crun_ok = 1 ] || echo "crun    (skipped: refuses this host, see above)"
