#!/bin/sh
# examples/fleet/bench.sh - resumed TLS handshakes per second with the
# client session cache in Redis (examples/fleet) against mtatls's
# in-process cache, both measured in the same run (fleet-bench), and the
# "Fleet" section of BENCHMARKS.md: only the lines between its markers are
# rewritten (appended when missing).
#
#   sh examples/fleet/bench.sh            # RUNS=11 N=400 BLOCKS=10: under a
#                                         # minute after the release build
# Needs redis-server (with redis-cli), libhiredis-dev, pkg-config, cc.
# Raw output: target/fleet-bench/.
set -eu
cd "$(dirname "$0")/../.."
root=$(pwd)
RUNS=${RUNS:-11}
N=${N:-400}
BLOCKS=${BLOCKS:-10}
out=$root/target/fleet-bench
rm -rf "$out"
mkdir -p "$out"

echo "== make install PREFIX=$out/prefix (release build)" >&2
make install PREFIX="$out/prefix" >&2
echo "== make -C examples/fleet (pkg-config)" >&2
PKG_CONFIG_PATH="$out/prefix/lib/pkgconfig" make -s -C examples/fleet OUT="$out" >&2
sh c-tests/make-keys.sh "$out/keys" >/dev/null 2>&1
(umask 077 && head -c 32 /dev/urandom > "$out/fleet.key")

# redis-server on a free loopback port, no persistence; stopped by pid.
pid=
cleanup() {
    if [ -n "$pid" ]; then
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM
port=
for i in 1 2 3 4 5; do
    try=$((20000 + ($$ * 7 + i * 7919) % 30000))
    redis-server --port "$try" --bind 127.0.0.1 --save "" --appendonly no --dir "$out" \
        > "$out/redis.log" 2>&1 &
    pid=$!
    n=0
    while [ $n -lt 50 ] && kill -0 "$pid" 2>/dev/null; do
        if redis-cli -p "$try" ping 2>/dev/null | grep -q PONG; then
            port=$try
            break
        fi
        sleep 0.1
        n=$((n + 1))
    done
    [ -n "$port" ] && break
    cleanup
    pid=
done
[ -n "$port" ] || { echo "bench.sh: redis-server did not start" >&2; cat "$out/redis.log" >&2; exit 1; }

echo "== fleet-bench: $RUNS runs of $N resumed connections per side in $BLOCKS blocks" >&2
start=$(date +%s)
LD_LIBRARY_PATH="$out/prefix/lib" "$out/fleet-bench" -R "127.0.0.1:$port" -k "$out/fleet.key" \
    -N "$N" -b "$BLOCKS" -r "$RUNS" "$out/keys/rsa.pem" > "$out/results.txt" 2> "$out/bench.log" || {
    cat "$out/results.txt" "$out/bench.log" >&2
    exit 1
}
end=$(date +%s)
cat "$out/results.txt" >&2

field() { # line-name field-name
    sed -n "s/^$1: median \([0-9.]*\) min \([0-9.]*\) max \([0-9.]*\).*/\1 \2 \3/p" "$out/results.txt" \
        | awk -v f="$2" '{ print (f == "median" ? $1 : f == "min" ? $2 : $3) }'
}
mem=$(field memory median) mem_min=$(field memory min) mem_max=$(field memory max)
red=$(field redis median) red_min=$(field redis min) red_max=$(field redis max)
ratio=$(field ratio median) ratio_min=$(field ratio min) ratio_max=$(field ratio max)
# Time added per connection, from the load-robust per-run ratio.
added=$(awk -v a="$mem" -v r="$ratio" 'BEGIN { printf "%.0f", (1 / r - 1) / a * 1e6 }')
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -1)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
redis_version=$(redis-server --version | sed -n 's/.* v=\([^ ]*\).*/\1/p')
hiredis_version=$(pkg-config --modversion hiredis)
stats=$(sed -n 's/^fleet-bench: fleet: stats: //p' "$out/bench.log")

section=$out/section.md
cat > "$section" <<EOF
<!-- fleet: begin (written by sh examples/fleet/bench.sh; keep this section) -->
## Fleet: client session cache in Redis (examples/fleet)

\`sh examples/fleet/bench.sh\`: resumed TLS 1.3 connections per second of one
client process (session from the cache, handshake with psk_dhe_ke X25519,
one line read, close_notify; RSA-2048 server on a second thread, socketpair
transport) with the client session cache in mtatls's memory against the
same cache in Redis through \`examples/fleet/fleet.c\` (a GET over loopback
TCP and an AES-256-GCM unwrap per connection; resumed TLS 1.3 sessions get
no new ticket, so no SET). Both in the same process and run: each run is
$BLOCKS blocks per side that alternate between the two caches, so a change of
load on the machine hits both alike; medians of the runs, min..max their range.

- date: $(date -u '+%Y-%m-%d %H:%M UTC'), run time $((end - start)) s
- machine: ${cpu:-unknown}, $(nproc) CPUs, load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)
- library: $(sed -n '1s/^fleet-bench: \(.*\); .*/\1/p' "$out/results.txt"), release build, commit $commit;
  redis-server $redis_version, hiredis $hiredis_version
- $RUNS runs of $N resumed connections per side

| client session cache | resumed connections/s (median) | min..max |
|---|---:|---|
| in process (mtatls) | $mem | $mem_min..$mem_max |
| Redis, loopback TCP, wrapped (fleet.c) | $red | $red_min..$red_max |
| Redis / in process, per run | $ratio | $ratio_min..$ratio_max |

Redis adds about $added µs per resumed connection (the median per-run ratio
applied to the in-process median; the rates themselves move with the load
of the shared machine), much less than what a resumption saves against a full
handshake (the TLS 1.3 full and resumed RSA-2048 rows of the table above),
which is what a fleet gains when a client's next connection lands on
another host. Counters at the end: $stats.
<!-- fleet: end -->
EOF

md=$root/BENCHMARKS.md
. "$root/bench/section.sh"
replace_section fleet "$section" "$md"
echo "bench.sh: wrote the Fleet section of BENCHMARKS.md" >&2
