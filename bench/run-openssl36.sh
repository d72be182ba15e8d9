#!/bin/sh
# bench/run-openssl36.sh - the library built with its `vendored` feature
# (the OpenSSL 3.6 that openssl-src builds), measured in the same way as
# bench/run.sh, against
#   - B on the system's OpenSSL (what a user gains by the feature), and
#   - B on the same OpenSSL 3.6 (mtabench linked to the static libraries
#     of the tree the feature built; the library keeps its own copy),
# plus X25519MLKEM768 against X25519 (the price of post-quantum key
# exchange) and 2-thread scaling. Writes the "OpenSSL 3.6" section of
# BENCHMARKS.md: only the lines between its markers (appended when
# missing; bench/run.sh keeps them).
#
#   sh bench/run-openssl36.sh      # ~10 min on 2 cores, plus the first
#                                  # vendored build (~6 min)
#   RUNS=9 SECS=0.4 sh bench/run-openssl36.sh
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)
RUNS=${RUNS:-9}
SECS=${SECS:-0.4}
CASES=${CASES:-"tls13-x25519-ecdsa tls13-mlkem-ecdsa tls13-x25519-rsa tls13-resume tls12-resume bulk-aes256gcm init scale-rsa"}
tdir=target/vendored
out=bench/out/v36
keys=bench/out/keys
start=$(date +%s)

echo "== cargo build --release --lib --features vendored (target dir $tdir)" >&2
cargo build --release --lib --features vendored --target-dir "$tdir"
# The install tree openssl-src made for this build (the newest one).
inst=$(ls -td "$tdir"/release/build/openssl-sys-*/out/openssl-build/install 2>/dev/null | head -1)
[ -n "$inst" ] && [ -d "$inst/include/openssl" ] || {
    echo "run-openssl36.sh: no OpenSSL install tree under $tdir/release/build" >&2
    exit 1
}
inst=$(cd "$inst" && pwd)
# The library must not export OpenSSL's symbols (B links its own copy).
if nm -D --defined-only "$tdir/release/libmtatls.so" | grep -q ' T SSL_new$'; then
    echo "run-openssl36.sh: $tdir/release/libmtatls.so exports OpenSSL symbols" >&2
    exit 1
fi
sh bench/make-keys.sh "$keys"
mkdir -p "$out"
echo "== make -C bench (B: system OpenSSL; B: OpenSSL of $inst)" >&2
make -C bench OUT="out/v36/sys" LIBDIR="../$tdir/release" >&2
make -C bench OUT="out/v36/same" LIBDIR="../$tdir/release" B_OPENSSL="$inst" >&2

log=$out/log.txt
: > "$log"
for variant in sys same; do
    bin=$out/$variant/mtabench
    res=$out/results-$variant.txt
    : > "$res"
    "$bin" version > "$out/version-$variant.txt"
    for c in $CASES; do
        echo "== $variant $c" >&2
        MTABENCH_SCALE_TARGET=1.85 "$bin" -k "$keys" -r "$RUNS" -t "$SECS" "$c" >> "$res" 2>> "$log" || {
            echo "run-openssl36.sh: case $c ($variant) failed; see $log" >&2
            tail -5 "$log" >&2
            exit 1
        }
    done
done

# The price of post-quantum key exchange: full-handshake rates of
# X25519MLKEM768 over X25519 (both with an ECDSA P-256 server), A and B on
# OpenSSL 3.6, from the two cases' medians in the same run.
pq=$(awk -F'|' '
    $1 == "ROW" && $2 ~ /X25519MLKEM768 \+ ECDSA/ && $3 == "hs/s" { ma = $4; mb = $5 }
    $1 == "ROW" && $2 ~ /X25519 \+ ECDSA P-256$/ && $3 == "hs/s" { xa = $4; xb = $5 }
    END { if (ma > 0 && xa > 0 && xb > 0)
        printf "ROW|X25519MLKEM768 / X25519, TLS 1.3 full handshakes with an ECDSA P-256 server (rate ratio of the two rows above; A: %.0f / %.0f hs/s, B: %.0f / %.0f)|x|%.3f|%.3f|%.3f|||\n",
            ma, xa, mb, xb, ma / xa, mb / xb, (ma / xa) / (mb / xb) }' "$out/results-same.txt")

end=$(date +%s)
table() { # results file -> markdown rows
    sed -n 's/^ROW|//p' "$1" | awk -F'|' '{ printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8 }'
}
section=$out/section.md
{
    echo "<!-- openssl36: begin (written by sh bench/run-openssl36.sh; keep this section) -->"
    echo "## OpenSSL 3.6: the \`vendored\` feature"
    echo
    echo "\`sh bench/run-openssl36.sh\`: the library built with \`--features vendored\`"
    echo "($(sed -n 1p "$out/version-same.txt")) as A, against B on the system's OpenSSL"
    echo "($(sed -n 2p "$out/version-sys.txt"): what a user gains by the feature) and against B"
    echo "on the same OpenSSL 3.6 ($(sed -n 2p "$out/version-same.txt"), linked statically into"
    echo "the harness; the library keeps its own copy and exports none of its symbols)."
    echo "Same harness, cases and method as the table above; $RUNS runs per case, medians."
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'), run time $((end - start)) s, load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo
    echo "### A on OpenSSL 3.6, B on the system's OpenSSL"
    echo
    echo "| case | unit | A (mtatls, 3.6) | B (libssl, system) | A/B | A/B min..max | target | met |"
    echo "|---|---|---:|---:|---:|---|---|---|"
    table "$out/results-sys.txt"
    echo
    echo "### A and B on OpenSSL 3.6"
    echo
    echo "| case | unit | A (mtatls, 3.6) | B (libssl, 3.6) | A/B | A/B min..max | target | met |"
    echo "|---|---|---:|---:|---:|---|---|---|"
    table "$out/results-same.txt"
    [ -n "$pq" ] && echo "$pq" | sed -n 's/^ROW|//p' | awk -F'|' '{ printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8 }'
    echo
    echo "Negotiated (client view; A = B checked before each case):"
    echo
    echo "| case | A 3.6 / B system | A 3.6 / B 3.6 |"
    echo "|---|---|---|"
    sed -n 's/^NEG|//p' "$out/results-sys.txt" | sort -u -t'|' -k1,1 > "$out/neg-sys.txt"
    sed -n 's/^NEG|//p' "$out/results-same.txt" | sort -u -t'|' -k1,1 > "$out/neg-same.txt"
    join -t '|' -a 1 -a 2 -e - -o 0,1.2,2.2 "$out/neg-sys.txt" "$out/neg-same.txt" \
        | awk -F'|' '{ printf "| %s | %s | %s |\n", $1, $2, $3 }'
    grep -h '^NOTE|' "$out/results-sys.txt" "$out/results-same.txt" | sed 's/^NOTE|/- note: /' || true
    echo "<!-- openssl36: end -->"
} > "$section"

md=$root/BENCHMARKS.md
. "$root/bench/section.sh"
replace_section openssl36 "$section" "$md"
echo "run-openssl36.sh: wrote the OpenSSL 3.6 section of BENCHMARKS.md ($((end - start)) s)" >&2
