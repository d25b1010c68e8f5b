#!/usr/bin/env bash
# make fuzz: builds the libFuzzer targets with clang in $FUZZ_BUILD and runs
# each for $FUZZ_SECONDS, then prints a summary (target, time, executions,
# crashes). Exits non-zero when any target found a crash.
#
#   FUZZ_SECONDS=60     time per target (libFuzzer -max_total_time)
#   FUZZ_TARGETS="..."  a subset (default: all, see fuzz/CMakeLists.txt)
#   FUZZ_PARALLEL=1     targets run at once
#   FUZZ_BUILD=build-fuzz
#
# Each target starts from its checked-in seeds (fuzz/corpus/<target>, read
# only) and keeps what it learns in $FUZZ_BUILD/corpus/<target>; crashing
# inputs land in $FUZZ_BUILD/artifacts/<target>/. Reproduce one with
#   $FUZZ_BUILD/fuzz/fuzz_<target> $FUZZ_BUILD/artifacts/<target>/crash-...
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZ_SECONDS="${FUZZ_SECONDS:-60}"
FUZZ_BUILD="${FUZZ_BUILD:-build-fuzz}"
FUZZ_PARALLEL="${FUZZ_PARALLEL:-1}"
# Every target fuzz/CMakeLists.txt builds (its POLDER_FUZZ_TARGETS list).
ALL_TARGETS="$(sed -n '/^set(POLDER_FUZZ_TARGETS/,/)/p' fuzz/CMakeLists.txt | sed 's/set(POLDER_FUZZ_TARGETS//; s/)//' | xargs)"
FUZZ_TARGETS="${FUZZ_TARGETS:-$ALL_TARGETS}"

# clang and its libFuzzer runtime are needed here only, so they are
# installed on demand rather than by scripts/install-deps (make test must
# not need them).
have_fuzzer_runtime() {
  command -v clang++ >/dev/null && ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1
}
if ! have_fuzzer_runtime; then
  echo "fuzz: installing clang and libclang-rt-14-dev" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang libclang-rt-14-dev
fi

if [ ! -f "$FUZZ_BUILD/build.ninja" ]; then
  cmake -S . -B "$FUZZ_BUILD" -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPOLDER_FUZZ=ON -DPOLDER_BUILD_TESTS=OFF -DPOLDER_BUILD_BENCH=OFF
fi
build_targets=""
for t in $FUZZ_TARGETS; do build_targets="$build_targets fuzz_$t"; done
# shellcheck disable=SC2086
cmake --build "$FUZZ_BUILD" -j "${JOBS:-$(nproc)}" --target $build_targets

run_one() {
  local t="$1"
  local corpus="$FUZZ_BUILD/corpus/$t" artifacts="$FUZZ_BUILD/artifacts/$t" log="$FUZZ_BUILD/logs/$t.log"
  mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"
  local start end rc=0
  touch "$FUZZ_BUILD/logs/$t.start"  # artifacts newer than this are this run's findings
  start=$(date +%s)
  "$FUZZ_BUILD/fuzz/fuzz_$t" "$corpus" "fuzz/corpus/$t" -max_total_time="$FUZZ_SECONDS" \
    -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -artifact_prefix="$artifacts/" >"$log" 2>&1 || rc=$?
  end=$(date +%s)
  local execs crashes inputs
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1 || true)
  crashes=$(find "$artifacts" -type f -newer "$FUZZ_BUILD/logs/$t.start" \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
  inputs=$(find "$corpus" -type f | wc -l)
  printf '%s %s %s %s %s %s\n' "$t" "$((end - start))" "${execs:-0}" "$inputs" "$crashes" "$rc" \
    >"$FUZZ_BUILD/logs/$t.result"
}

export -f run_one
export FUZZ_BUILD FUZZ_SECONDS
echo "fuzz: $FUZZ_SECONDS s per target, $FUZZ_PARALLEL at a time: $FUZZ_TARGETS" >&2
# shellcheck disable=SC2086
printf '%s\n' $FUZZ_TARGETS | xargs -P "$FUZZ_PARALLEL" -I{} bash -c 'run_one {}'

total_s=0
total_execs=0
summary="$FUZZ_BUILD/fuzz-summary.txt"
{
  printf '%-16s %8s %14s %10s %8s %8s\n' target seconds executions exec/s corpus crashes
  for t in $FUZZ_TARGETS; do
    read -r name secs execs inputs crashes rc <"$FUZZ_BUILD/logs/$t.result"
    rate=$(( secs > 0 ? execs / secs : 0 ))
    verdict=""
    if [ "$crashes" -ne 0 ] || [ "$rc" -ne 0 ]; then verdict="FAILED"; fi
    printf '%-16s %8s %14s %10s %8s %8s %s\n' "$name" "$secs" "$execs" "$rate" "$inputs" "$crashes" "$verdict"
    total_s=$((total_s + secs))
    total_execs=$((total_execs + execs))
  done
  printf '%-16s %8s %14s\n' total "$total_s" "$total_execs"
} >"$summary"
cat "$summary"
if grep -q FAILED "$summary"; then
  echo "fuzz: findings in $FUZZ_BUILD/artifacts/ (logs in $FUZZ_BUILD/logs/); turn each into a test in tests/" >&2
  exit 1
fi
