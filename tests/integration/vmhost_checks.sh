# Sourced by the scripts that run inside the nested test host
# (vm_changes.sh, vm_snapshots.sh): a store of their own, and checks that
# count failures into $fails.

# HVRUN_ROOT=/tmp/NAME on a fresh tmpfs (the test host's root is an
# overlayfs: no overlay upper dirs on it), no network unless asked for.
vmhost_store() {  # NAME
  export HVRUN_ROOT=/tmp/$1 HVRUN_NETWORK=none
  rm -rf "$HVRUN_ROOT"
  mkdir -p "$HVRUN_ROOT" && mount -t tmpfs -o mode=0700 "$1" "$HVRUN_ROOT"
}
fails=0
check() {  # WHAT EXPECTED ACTUAL
  if [ "$2" == "$3" ]; then echo "ok: $1"; else
    echo "FAIL: $1"; echo "--- expected"; printf '%s\n' "$2"; echo "--- got"; printf '%s\n' "$3"; fails=$((fails + 1))
  fi
}
check_match() {  # WHAT REGEX ACTUAL
  if printf '%s\n' "$3" | grep -Eq -- "$2"; then echo "ok: $1"; else
    echo "FAIL: $1"; echo "--- expected to match: $2"; echo "--- got"; printf '%s\n' "$3"; fails=$((fails + 1))
  fi
}
step() { echo "--- $(date +%T) $*"; }  # progress, also for vmhost's --idle-timeout
