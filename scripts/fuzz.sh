#!/usr/bin/env bash
# scripts/fuzz.sh [TARGET|all] [SECONDS]
#
# Runs libFuzzer target fuzz_TARGET (tests/fuzz/TARGET.cpp), or every one,
# for SECONDS each (default 60), one after another at nice 19. Configures and
# builds build-fuzz (clang, -DHVRUN_FUZZ=ON: ASan+UBSan+libFuzzer) when
# needed. Each run starts from the committed seeds in tests/fuzz/corpus/TARGET
# (read only: new corpus entries and crash files go to a scratch directory,
# printed at the end, never into the repository). Prints per target the
# executions, exec/s, corpus size and crashes; exits 1 when any target
# crashed or a sanitizer reported, 2 on a usage error.
#
# A crash: tests/fuzz/TARGET.cpp says what the target promises; fix the code,
# then copy the crash file into tests/fuzz/corpus/TARGET/ as crash-<what> so
# that Fuzz.<Target>CorpusReplaysWithoutCrash replays it in every build.
#
# Environment: HVRUN_FUZZ_BUILD_DIR (default build-fuzz), HVRUN_FUZZ_WORK
# (the scratch directory; default a new one under /tmp), HVRUN_FUZZ_ARGS
# (more libFuzzer flags, e.g. "-max_len=65536").
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:-all}
secs=${2:-60}
build=${HVRUN_FUZZ_BUILD_DIR:-build-fuzz}

all=()
for f in tests/fuzz/*.cpp; do
  n=$(basename "$f" .cpp)
  [ "$n" = replay_main ] || all+=("$n")
done
if [ "$target" = all ]; then
  targets=("${all[@]}")
elif [ -f "tests/fuzz/$target.cpp" ] && [ "$target" != replay_main ]; then
  targets=("$target")
else
  echo "fuzz.sh: no fuzz target '$target' (have: ${all[*]})" >&2
  exit 2
fi
case "$secs" in ''|*[!0-9]*) echo "fuzz.sh: SECONDS must be a whole number, not '$secs'" >&2; exit 2;; esac

if [ ! -f "$build/build.ninja" ]; then
  command -v clang++ >/dev/null || { echo "fuzz.sh: clang++ not found (scripts/setup.sh installs clang)" >&2; exit 2; }
  CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DHVRUN_FUZZ=ON -DHVRUN_TESTS=OFF \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -gline-tables-only" \
    "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O1 -gline-tables-only" >/dev/null
fi
nice -n 19 cmake --build "$build" -j1 --target "${targets[@]/#/fuzz_}"

work=${HVRUN_FUZZ_WORK:-$(mktemp -d /tmp/hvrun-fuzz-run.XXXXXX)}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=0
printf '%-16s %12s %10s %8s %8s\n' TARGET EXECUTIONS EXEC/S CORPUS CRASHES
for t in "${targets[@]}"; do
  mkdir -p "$work/$t/corpus" "$work/$t/artifacts"
  log="$work/$t/fuzz.log"
  rc=0
  # The scratch corpus first: libFuzzer writes new entries into the first
  # directory and only reads the others.
  # shellcheck disable=SC2086
  nice -n 19 "$build/tests/fuzz/fuzz_$t" -max_total_time="$secs" -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$work/$t/artifacts/" ${HVRUN_FUZZ_ARGS:-} \
    "$work/$t/corpus" "tests/fuzz/corpus/$t" >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  corpus=$(find "$work/$t/corpus" "tests/fuzz/corpus/$t" -type f | wc -l)
  crashes=$(find "$work/$t/artifacts" -type f | wc -l)
  printf '%-16s %12s %10s %8s %8s\n' "$t" "${execs:-?}" "${rate:-?}" "$corpus" "$crashes"
  if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then
    failed=1
    echo "fuzz.sh: $t failed (exit $rc); its log: $log; crash inputs: $work/$t/artifacts/" >&2
    grep -m3 -E 'ERROR: AddressSanitizer|runtime error|ERROR: libFuzzer|fuzz invariant failed|uncaught exception|terminate called' "$log" >&2 || true
  fi
done
echo "fuzz.sh: new corpus entries, logs and crash files in $work"
exit "$failed"
