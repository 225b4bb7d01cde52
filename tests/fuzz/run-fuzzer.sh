#!/bin/sh
# Run one libFuzzer target as a test (tests/fuzz/meson.build):
#
#   run-fuzzer.sh FUZZER SEEDS WORKDIR [LIBFUZZER-OPTION...]
#
# 1. every committed input in SEEDS once (regression: all must pass);
# 2. fuzzing for $CRIER_FUZZ_TIME seconds (default 20) on a fresh copy of
#    SEEDS in WORKDIR/corpus, so the source tree is never written to.
# A crash leaves its input in WORKDIR/artifacts/ (README.md: what next).
set -eu

fuzzer=$1
seeds=$2
work=$3
shift 3

: "${CRIER_FUZZ_TIME:=20}"
: "${G_SLICE:=always-malloc}"
: "${ASAN_OPTIONS:=abort_on_error=1:detect_leaks=1}"
: "${UBSAN_OPTIONS:=print_stacktrace=1:halt_on_error=1}"
export G_SLICE ASAN_OPTIONS UBSAN_OPTIONS

rm -rf "$work"
mkdir -p "$work/corpus" "$work/artifacts"
if [ -d "$seeds" ]; then
  cp "$seeds"/* "$work/corpus/" 2>/dev/null || true
fi

# libFuzzer exits with 77 when it finds a bug, which meson reads as "skipped":
# every failure leaves this script as 1.
fail() {
  echo "== FAILED: $*" >&2
  exit 1
}

n=$(ls "$work/corpus" | wc -l)
echo "== $(basename "$fuzzer"): $n committed inputs"
if [ "$n" -gt 0 ]; then
  # Inputs given as files are each run once, whatever their size.
  "$fuzzer" -rss_limit_mb=2048 -timeout=10 "$@" "$work"/corpus/* ||
    fail "a committed input of $seeds (named in the log above)"
fi

echo "== $(basename "$fuzzer"): fuzzing for ${CRIER_FUZZ_TIME} s"
"$fuzzer" -max_total_time="$CRIER_FUZZ_TIME" -rss_limit_mb=2048 -timeout=10 \
  -print_final_stats=1 -artifact_prefix="$work/artifacts/" "$@" "$work/corpus" ||
  fail "the input is in $work/artifacts/ (see tests/fuzz/README.md)"
