#!/usr/bin/env bash
# Build every fuzz target and run each for SECONDS (default 30) on a
# temporary copy of its committed seed corpus (fuzz/corpus/<target>/ is
# never grown), then print per target: seconds run, executions, exec/s
# (libFuzzer's final stats), working corpus size, and the outcome.
# Exit status: 0 when no target crashed, hung or ran out of memory, else 1
# (the reproducer is left in fuzz/artifacts/<target>/).
#
#   fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]
#
# Works from a clean clone: installs cargo-fuzz if it is missing. The
# machine's stable toolchain is enough: RUSTC_BOOTSTRAP=1 lets it take the
# -Z flags cargo-fuzz passes (sanitizer, coverage instrumentation).
# FUZZ_KEEP=1 keeps the working directory (corpora, logs) and prints it.
set -euo pipefail

secs="${1:-30}"
[ $# -gt 0 ] && shift
case "$secs" in
'' | *[!0-9]*)
    echo "usage: fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]" >&2
    exit 2
    ;;
esac
all_targets=(main_cf param_values fingerprint_and_match server_handshake client_handshake api_state)
if [ $# -gt 0 ]; then targets=("$@"); else targets=("${all_targets[@]}"); fi

fuzz_dir="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$fuzz_dir")"
cd "$repo"

export RUSTC_BOOTSTRAP=1
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install --locked cargo-fuzz
fi
echo "== $(cargo fuzz --version), $(rustc --version)"

# Release build with debug assertions and overflow checks, AddressSanitizer
# (cargo-fuzz's defaults), one build for all targets.
build_start=$(date +%s)
cargo fuzz build
echo "== built in $(($(date +%s) - build_start)) s"

work="$(mktemp -d "${TMPDIR:-/tmp}/mtatls-fuzz-run.XXXXXX")"
if [ "${FUZZ_KEEP:-0}" = 1 ]; then
    echo "== working directory: $work (kept)"
else
    trap 'rm -rf "$work"' EXIT
fi
# Fixture files the targets write (certificates, DH parameters) go here.
mkdir -p "$work/tmp"

max_len() {
    case "$1" in
    server_handshake | client_handshake) echo 8192 ;;
    api_state) echo 1024 ;;
    fingerprint_and_match) echo 2048 ;;
    *) echo 4096 ;;
    esac
}

lf_stat() { # stat NAME LOG: a libFuzzer "stat::NAME: value" line
    sed -n "s/^stat::$1: *//p" "$2" | tail -n 1
}

failed=0
summary=()
for t in "${targets[@]}"; do
    if [ ! -f "$fuzz_dir/fuzz_targets/$t.rs" ]; then
        echo "unknown target: $t" >&2
        exit 2
    fi
    mkdir -p "$work/corpus/$t" "$fuzz_dir/artifacts/$t"
    if [ -d "$fuzz_dir/corpus/$t" ]; then
        cp -R "$fuzz_dir/corpus/$t/." "$work/corpus/$t/"
    fi
    seeds=$(find "$work/corpus/$t" -type f | wc -l)
    echo "== $t: ${secs} s from $seeds seeds"
    log="$work/$t.log"
    status=ok
    t0=$(date +%s)
    # -timeout: one input taking 10 s is a hang (the slowest legitimate
    # handshake input waits 4 x 1 s at most).
    if ! TMPDIR="$work/tmp" cargo fuzz run "$t" "$work/corpus/$t" -- \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -max_len="$(max_len "$t")" -print_final_stats=1 \
        -artifact_prefix="$fuzz_dir/artifacts/$t/" >"$log" 2>&1; then
        status=FAILED
        failed=1
        echo "---- $t failed; last lines of its log:"
        tail -n 60 "$log"
        echo "---- reproducer(s):"
        grep -E "Test unit written to|artifact_prefix" "$log" || true
    fi
    runs=$(lf_stat number_of_executed_units "$log")
    eps=$(lf_stat average_exec_per_sec "$log")
    took=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -n 1)
    [ -n "$took" ] || took="$(($(date +%s) - t0))"
    corpus=$(find "$work/corpus/$t" -type f | wc -l)
    line=$(printf '%-22s %6ss %10s runs %8s exec/s %6s corpus  %s' \
        "$t" "${took:-?}" "${runs:-?}" "${eps:-?}" "$corpus" "$status")
    echo "$line"
    summary+=("$line")
done

echo "== summary (seconds, executions, executions per second, working corpus files)"
printf '%s\n' "${summary[@]}"
if [ "$failed" != 0 ]; then
    echo "== FAILED: a target crashed, hung or ran out of memory (see above)"
    exit 1
fi
echo "== all targets ran without a crash"
