#!/bin/sh
# bench/run.sh - build the library and the harness, run every A/B case
# (and callgrind when valgrind is installed), write BENCHMARKS.md.
#
#   sh bench/run.sh            # from anywhere; about 6-7 minutes on 2 cores
#   RUNS=9 SECS=0.4 sh bench/run.sh
#
# RUNS: runs per case (medians are over runs; >= 5); SECS: seconds per run
# and side. Results: BENCHMARKS.md; raw lines and logs: bench/out/.
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)
RUNS=${RUNS:-9}
SECS=${SECS:-0.4}
out=bench/out
keys=$out/keys
start=$(date +%s)

echo "== cargo build --release" >&2
cargo build --release
echo "== make -C bench" >&2
make -C bench >&2
sh bench/make-keys.sh "$keys"
bin=$out/mtabench
results=$out/results.txt
log=$out/log.txt
: > "$results"
: > "$log"

for c in $("$bin" list | cut -f1); do
    echo "== $c" >&2
    "$bin" -k "$keys" -r "$RUNS" -t "$SECS" "$c" >> "$results" 2>> "$log" || {
        echo "run.sh: case $c failed; see $log" >&2
        tail -5 "$log" >&2
        exit 1
    }
done

# Instructions per connection (per 16 KiB record for bulk): callgrind
# totals of the same workload with N1 and N2 connections; the difference
# over N2 - N1 leaves out start-up and context creation.
cg=$out/cg
mkdir -p "$cg"
: > "$out/cg-rows.txt"
: > "$out/cg-breakdown.txt"
cg_total() { # file -> total Ir
    sed -n 's/^summary: *//p' "$1" | head -1
}
cg_func() { # file function -> largest inclusive Ir of that function
    callgrind_annotate --inclusive=yes --threshold=100 --auto=no "$1" 2>/dev/null \
        | awk -v f="$2" '{ for (i = 1; i <= NF; i++) if ($i ~ (":" f "$") ) { gsub(",", "", $1); if ($1 + 0 > m) m = $1 + 0 } } END { print m + 0 }'
}
if command -v valgrind >/dev/null 2>&1; then
    # case:N1:N2:mode:target A/B (Ir, <=):title. Resumption rows also
    # compare A with B' (raw OpenSSL keeping SSL_SESSION objects: impl P).
    for spec in "tls13-x25519-ecdsa:2:12::1.03:TLS 1.3 X25519 + ECDSA P-256, per connection" \
                "tls13-x25519-rsa:2:12::1.03:TLS 1.3 X25519 + RSA-2048, per connection" \
                "tls13-p256-ecdsa:2:12::1.03:TLS 1.3 P-256 + ECDSA P-256, per connection" \
                "tls13-resume:3:23::0.87:TLS 1.3 resumed (client cache + ticket), per connection" \
                "tls12-resume:3:23::0.67:TLS 1.2 resumed (client cache + ticket), per connection" \
                "tls13-x25519-rsa:2:12:step:1.03:TLS 1.3 X25519 + RSA-2048, per connection, non-blocking calls (step driver)" \
                "bulk-aes256gcm:100:1100:bulk:1.00:bulk AES-256-GCM, per 16 KiB record" \
                "init:1:6:client:1.20:client context init from main.cf (CAfile), per context" \
                "init:1:6:server:1.05:server context init from main.cf (RSA + ECDSA chain files, CAfile), per context"; do
        c=$(echo "$spec" | cut -d: -f1); n1=$(echo "$spec" | cut -d: -f2); n2=$(echo "$spec" | cut -d: -f3)
        mode=$(echo "$spec" | cut -d: -f4); tgt=$(echo "$spec" | cut -d: -f5); title=$(echo "$spec" | cut -d: -f6-)
        impls="A B"
        case $c in *-resume) impls="A B P" ;; esac
        echo "== callgrind $c $mode" >&2
        for impl in $impls; do
            for n in "$n1" "$n2"; do
                valgrind --tool=callgrind --callgrind-out-file="$cg/$c$mode-$impl-$n.out" \
                    "$bin" -k "$keys" cg "$c" "$impl" "$n" $mode >> "$log" 2>&1
            done
        done
        a=$(( ($(cg_total "$cg/$c$mode-A-$n2.out") - $(cg_total "$cg/$c$mode-A-$n1.out")) / (n2 - n1) ))
        for impl in $impls; do
            [ "$impl" = A ] && continue
            b=$(( ($(cg_total "$cg/$c$mode-$impl-$n2.out") - $(cg_total "$cg/$c$mode-$impl-$n1.out")) / (n2 - n1) ))
            t=$title
            g=$tgt
            if [ "$impl" = P ]; then
                t="$title; B' = raw OpenSSL, client keeps SSL_SESSION objects"
                g=1.02
            fi
            awk -v t="instructions (callgrind), $t" -v a="$a" -v b="$b" -v g="$g" 'BEGIN {
                r = a / b; printf "ROW|%s|Ir|%d|%d|%.4f||<= %s|%s\n", t, a, b, r, g, (r <= g + 0 ? "yes" : "**no**") }' \
                >> "$out/cg-rows.txt"
        done
        # Where A's extra instructions go: inclusive Ir per connection of
        # the library's per-handshake work (names as in src/; "0": absent).
        if [ -z "$mode" ]; then
            for f in 'mtatls::report::facts::collect' 'mtatls::report::facts::ec_curve' 'mtatls::text::colon_hex' \
                     'openssl::x509::X509Ref::digest' 'mtatls::report::cert::pkey_fingerprint' 'mtatls::report::cert::text_name' \
                     'openssl::ssl::callbacks::raw_verify' 'mtatls::sys::ossl::name_oneline' 'mtatls::verify::trust::decide' \
                     'alloc::fmt::format::format_inner' 'mtatls::context::cache::ClientCache::load' \
                     'mtatls::sys::ssl::session_dup' 'd2i_SSL_SESSION' 'openssl::ssl::callbacks::raw_new_session' \
                     'openssl::ssl::Ssl::new' 'mtatls::session::Session::new' 'mtatls_session_free'; do
                v=$(( ($(cg_func "$cg/$c-A-$n2.out" "$f") - $(cg_func "$cg/$c-A-$n1.out" "$f")) / (n2 - n1) ))
                echo "$c|$f|$v" >> "$out/cg-breakdown.txt"
            done
            for f in SSL_new SSL_free b_ticket_cb b_new_session d2i_SSL_SESSION; do
                v=$(( ($(cg_func "$cg/$c-B-$n2.out" "$f") - $(cg_func "$cg/$c-B-$n1.out" "$f")) / (n2 - n1) ))
                echo "$c|B: $f|$v" >> "$out/cg-breakdown.txt"
            done
        fi
    done
else
    echo "ROW|instructions (callgrind)|Ir|n/a (valgrind not installed)|n/a|n/a||<= 1.03|n/a" > "$out/cg-rows.txt"
fi

# System calls per connection (both ends, one thread: the step driver) and
# per 16 KiB record (bulk: written by one session, read by the other),
# counted by strace -c over N1 and N2 units; the difference over N2 - N1
# leaves out start-up and context creation. Informational rows (no
# target): I/O = read, write, send*, recv*, poll; all = every system call.
: > "$out/sys-rows.txt"
sys_count() { # strace -c file, regex of names -> sum of calls
    awk -v re="$2" '$1 ~ /^[0-9.]+$/ && $4 ~ /^[0-9]+$/ && $NF != "total" && $NF ~ re { n += $4 } END { print n + 0 }' "$1"
}
if command -v strace >/dev/null 2>&1; then
    for spec in "tls13-x25519-rsa:20:120:step:TLS 1.3 full handshake X25519 + RSA-2048, per connection (step driver)" \
                "tls13-resume:20:120:step:TLS 1.3 resumed handshake, per connection (step driver)" \
                "tls12-resume:20:120:step:TLS 1.2 resumed handshake, per connection (step driver)" \
                "bulk-aes256gcm:100:1100:bulk:bulk AES-256-GCM, per 16 KiB record"; do
        c=$(echo "$spec" | cut -d: -f1); n1=$(echo "$spec" | cut -d: -f2); n2=$(echo "$spec" | cut -d: -f3)
        mode=$(echo "$spec" | cut -d: -f4); title=$(echo "$spec" | cut -d: -f5-)
        echo "== strace $c $mode" >&2
        for impl in A B; do
            for n in "$n1" "$n2"; do
                strace -f -c -o "$out/sys-$c-$impl-$n.txt" "$bin" -k "$keys" cg "$c" "$impl" "$n" "$mode" >> "$log" 2>&1
            done
        done
        for kind in io all; do
            re='^(read|write|sendto|recvfrom|sendmsg|recvmsg|readv|writev|poll|ppoll)$'
            [ "$kind" = all ] && re='^[a-z_0-9]+$'
            per() { echo $(( ($(sys_count "$out/sys-$c-$1-$n2.txt" "$re") - $(sys_count "$out/sys-$c-$1-$n1.txt" "$re")) * 100 / (n2 - n1) )); }
            a=$(per A); b=$(per B)
            awk -v t="system calls ($kind, strace), $title" -v a="$a" -v b="$b" 'BEGIN {
                printf "ROW|%s|calls|%.2f|%.2f|%.3f|||\n", t, a / 100, b / 100, (b > 0 ? a / b : 0) }' >> "$out/sys-rows.txt"
        done
    done
fi

# Crypto floor of one TLS 1.3 X25519 + RSA-2048 handshake (both ends):
# what `openssl speed` gives for its public-key operations - one RSA-2048
# signature (the server's CertificateVerify), three verifications (the
# client checks CertificateVerify, the leaf's and the intermediate's
# signatures) and four X25519 operations (key generation and derivation on
# each side, counted as a derivation each).
: > "$out/floor-rows.txt"
if command -v openssl >/dev/null 2>&1; then
    echo "== openssl speed" >&2
    openssl speed -seconds 1 -mr rsa2048 ecdhx25519 2>/dev/null > "$out/speed.txt" || true
    awk -F: '/^\+F2:/ && $3 == 2048 { sign = $4; verify = $5 } /^\+F5:/ && $3 == 253 { x = $4 }
        END { if (sign > 0 && verify > 0 && x > 0) {
            us = 1e6 / sign + 3e6 / verify + 4e6 / x
            printf "ROW|crypto floor of a TLS 1.3 X25519 + RSA-2048 handshake, both ends (openssl speed: 1 RSA-2048 sign %.0f/s, 3 verify %.0f/s, 4 X25519 %.0f/s; %.0f us)|hs/s||%.0f|||| \n", sign, verify, x, us, 1e6 / us } }' \
        "$out/speed.txt" >> "$out/floor-rows.txt"
fi

# ---------------------------------------------------------------------
end=$(date +%s)
md=$root/BENCHMARKS.md
versions=$("$bin" version)
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -1)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git status --porcelain -- src Cargo.toml Cargo.lock 2>/dev/null | wc -l)
# Sections other scripts write (bench/section.sh: examples/fleet/bench.sh,
# bench/run-openssl36.sh) are kept.
kept=$(sed -n '/^<!-- [a-z0-9]*: begin/,/^<!-- [a-z0-9]*: end -->/p' "$md" 2>/dev/null || true)
{
    echo "# mtatls benchmarks"
    echo
    echo "Written by \`sh bench/run.sh\` (do not edit by hand). A = through the mtatls C API;"
    echo "B = libssl called directly by C code configured as mtatls configures OpenSSL for the"
    echo "same Postfix parameters (bench/impl_b.c). Same process, same run, same socketpair"
    echo "transport, keys, groups and CAfile; the client verifies the server chain in both."
    echo "B' (resumption rows marked so) = B whose client keeps the SSL_SESSION object itself"
    echo "instead of DER, as raw OpenSSL clients usually do."
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'), run time $((end - start)) s"
    echo "- machine: ${cpu:-unknown CPU}, $(nproc) CPUs, $(uname -sr), load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- library: $(echo "$versions" | sed -n 1p), commit $commit$( [ "$dirty" -gt 0 ] && echo " + uncommitted changes in src/")"
    echo "- OpenSSL linked by B: $(echo "$versions" | sed -n 2p)"
    echo "- $RUNS runs per case, each of 16 alternating A/B blocks (~$SECS s per side per run);"
    echo "  A and B are the medians of the runs' rates, A/B the median of the runs' ratios, min..max their range"
    echo
    echo "| case | unit | A (mtatls) | B (libssl) | A/B | A/B min..max | target | met |"
    echo "|---|---|---:|---:|---:|---|---|---|"
    cat "$results" "$out/floor-rows.txt" "$out/cg-rows.txt" "$out/sys-rows.txt" | sed -n 's/^ROW|//p' | awk -F'|' '{
        printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8 }'
    echo
    echo "Negotiated (checked equal for A and B before each case, client view; the ClientHello"
    echo "lengths are equal too, i.e. the same options, cipher list, groups and extensions):"
    echo
    echo "| case | protocol, cipher, key exchange, server signature, digest, chain, session; ClientHello |"
    echo "|---|---|"
    sed -n 's/^NEG|//p' "$results" | awk -F'|' '{ printf "| %s | %s |\n", $1, $2 }'
    if [ -s "$out/cg-breakdown.txt" ]; then
        echo
        echo "Where A's extra instructions go (callgrind, inclusive Ir per connection, client + server;"
        echo "0: not called / not present; the B rows are libssl's own work for comparison):"
        echo
        awk -F'|' '{ v[$2 SUBSEP $1] = $3
                if (!($2 in seen)) { seen[$2] = 1; order[++n] = $2 }
                if (!($1 in cs)) { cs[$1] = 1; cases[++m] = $1 } }
            END { printf "| function |"; for (j = 1; j <= m; j++) printf " %s |", cases[j]; printf "\n|---|"
                for (j = 1; j <= m; j++) printf "---:|"; printf "\n"
                for (i = 1; i <= n; i++) { f = order[i]; printf "| %s |", f
                    for (j = 1; j <= m; j++) printf " %s |", v[f SUBSEP cases[j]]; printf "\n" } }' \
            "$out/cg-breakdown.txt"
    fi
    grep '^NOTE|' "$results" | sed 's/^NOTE|/- note: /' || true
    echo
    echo "Method: handshakes - a server thread and a client thread over a new socketpair per"
    echo "connection, blocking calls with a 10 s timeout (mtatls polls inside; B runs the same"
    echo "non-blocking-descriptor + poll loop), one command/reply through TLS, close_notify, free;"
    echo "connections one after the other. Scaling - one thread drives both ends of each"
    echo "connection with non-blocking calls; 1 vs 2 such threads share the two contexts. Bulk -"
    echo "one thread writes a 16 KiB record through the client session and reads it through the"
    echo "server session (no cross-core effects). Memory - heap in use (mallinfo2, tcache off)"
    echo "before and after freeing 200 idle established sessions of one side. Resumption - A's"
    echo "client sets a server id (mtatls_session_set_serverid: the library's in-memory cache), B's"
    echo "keeps DER sessions as Postfix's client cache does; both servers encrypt tickets with"
    echo "aes-256-cbc + HMAC-SHA256 in a ticket-key callback. TLS 1.2 cases exclude aNULL on the"
    echo "client (Postfix's medium list puts anonymous ciphers first: an unverified ADH suite"
    echo "would be negotiated otherwise). Full-handshake clients keep no sessions (no server id)."
    echo "Wall-clock rates on a shared 2-CPU VM move by +-10% between blocks; the callgrind rows"
    echo "are exact. The CPU-loop figure in the scaling row is what the machine itself gave."
    echo "System calls - strace -c of the step driver (N2 - N1 connections; both ends) and of"
    echo "the bulk workload (per record: one write, one read side)."
    if [ -f bench/notes.md ]; then
        echo
        cat bench/notes.md
    fi
    if [ -n "$kept" ]; then
        echo
        echo "$kept"
    fi
} > "$md.tmp"
mv -f "$md.tmp" "$md"
echo "== wrote $md ($((end - start)) s)" >&2
