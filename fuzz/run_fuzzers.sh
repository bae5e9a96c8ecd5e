#!/bin/sh
# Builds the libFuzzer targets with clang + AddressSanitizer in a separate build directory, seeds a
# fresh corpus with small valid files of every format (plus tests/data/FORMAT/, when there is one), and
# runs each target for SECONDS (default 60).
# Usage: fuzz/run_fuzzers.sh [SECONDS]
# Environment: QL_FUZZ_BUILD_DIR (default <source>/build-fuzz), QL_FUZZ_JOBS (default 2).
# Exit status: 0 when no target found anything; 1 otherwise (crash inputs are kept in the build dir).
set -eu
SECS=${1:-60}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${QL_FUZZ_BUILD_DIR:-$ROOT/build-fuzz}
JOBS=${QL_FUZZ_JOBS:-2}
TARGETS="safetensors gguf hdf5 numpy"

cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
    -DQL_FUZZ=ON -DQL_BUILD_GUI=OFF -DQL_BUILD_TESTS=OFF -DQL_BUILD_BENCH=OFF -DQL_NATIVE=OFF >/dev/null
# Only core/base + core/io and the fuzzers, not the rest of ql_core or the CLI.
cmake --build "$BUILD" -j "$JOBS" --target fuzz_seeds $(for t in $TARGETS; do printf 'fuzz_%s ' "$t"; done)

RUN="$BUILD/fuzz-run-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$RUN"
"$BUILD/bin/fuzz_seeds" "$RUN/seeds"
# ASan reports leaks, except for the HDF5 target: libhdf5 itself leaks on some error paths of
# corrupt files (allocations made and lost inside the library, not reachable from our code).
ASAN_BASE="${ASAN_OPTIONS:-allocator_may_return_null=1}"

failed=""
for t in $TARGETS; do
    mkdir -p "$RUN/corpus-$t" "$RUN/crashes-$t"
    echo "== fuzz_$t for ${SECS}s"
    # Test fixtures of that format (regression inputs among them) join the generated seeds.
    extra=""
    [ -d "$ROOT/tests/data/$t" ] && extra="$ROOT/tests/data/$t"
    leaks=1
    [ "$t" = hdf5 ] && leaks=0
    if ! ASAN_OPTIONS="$ASAN_BASE:detect_leaks=$leaks" "$BUILD/bin/fuzz_$t" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 \
        -max_len=16384 -print_final_stats=1 -artifact_prefix="$RUN/crashes-$t/" \
        "$RUN/corpus-$t" "$RUN/seeds/$t" $extra >"$RUN/fuzz_$t.log" 2>&1; then
        failed="$failed $t"
        tail -n 40 "$RUN/fuzz_$t.log"
    else
        grep -E "stat::number_of_executed_units|cov:" "$RUN/fuzz_$t.log" | tail -n 2 || true
    fi
done
if [ -n "$failed" ]; then
    echo "fuzzing found problems in:$failed (inputs and logs in $RUN)"
    exit 1
fi
echo "fuzzing: no findings ($RUN)"
