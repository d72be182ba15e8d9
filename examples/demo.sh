#!/bin/sh
# demo.sh BINDIR - one loopback STARTTLS session between the example server
# (BINDIR/mtatls-smtpd) and client (BINDIR/mtatls-finger); prints both
# sides' lines. Exit status 0 iff both sides established TLS.
set -u

bindir=${1:?usage: demo.sh BINDIR}
server="$bindir/mtatls-smtpd"
client="$bindir/mtatls-finger"
for prog in "$server" "$client"; do
    [ -x "$prog" ] || { echo "demo.sh: $prog not found (make c-build)" >&2; exit 2; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mtatls-demo.XXXXXX") || exit 1
server_pid=
cleanup() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null
        wait "$server_pid" 2>/dev/null
    fi
    rm -rf -- "$tmp"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

# Waits below count tenths of a second; without a fractional sleep(1),
# each nap is a whole second.
if sleep 0.1 2>/dev/null; then tick=1; else tick=10; fi
nap() { sleep 0.1 2>/dev/null || sleep 1; }

# Start the server for one connection on a free port.
"$server" -n 1 127.0.0.1:0 >"$tmp/server.out" 2>"$tmp/server.err" &
server_pid=$!

# Learn the port from "mtatls-smtpd: listening on 127.0.0.1:PORT" (10 s).
port=
waited=0
while [ "$waited" -lt 100 ]; do
    port=$(sed -n 's/^mtatls-smtpd: listening on .*:\([0-9][0-9]*\)$/\1/p' "$tmp/server.err")
    [ -n "$port" ] && break
    kill -0 "$server_pid" 2>/dev/null || break
    nap
    waited=$((waited + tick))
done
if [ -z "$port" ]; then
    echo "demo.sh: mtatls-smtpd did not start:" >&2
    cat "$tmp/server.err" >&2
    exit 1
fi

# The client: STARTTLS, EHLO, QUIT (-c: without the SMTP chat lines).
"$client" -c "127.0.0.1:$port" >"$tmp/client.out" 2>"$tmp/client.err"
client_status=$?

# The server exits after its one connection (10 s), else it is stopped.
waited=0
while kill -0 "$server_pid" 2>/dev/null && [ "$waited" -lt 100 ]; do
    nap
    waited=$((waited + tick))
done
if kill -0 "$server_pid" 2>/dev/null; then
    echo "demo.sh: mtatls-smtpd did not exit; stopping it" >&2
    kill "$server_pid" 2>/dev/null
fi
wait "$server_pid"
server_status=$?
server_pid=

echo "== server (mtatls-smtpd) =="
cat "$tmp/server.err" "$tmp/server.out"
echo "== client (mtatls-finger) =="
cat "$tmp/client.err" "$tmp/client.out"

status=0
grep -q '^mtatls-smtpd: .* TLS connection established from ' "$tmp/server.err" || status=1
grep -q '^mtatls-finger: .* TLS connection established to ' "$tmp/client.err" || status=1
[ "$client_status" -eq 0 ] && [ "$server_status" -eq 0 ] || status=1
echo "== result =="
if [ "$status" -eq 0 ]; then
    echo "TLS established on both sides"
else
    echo "FAILED (client exit $client_status, server exit $server_status)"
fi
exit "$status"
