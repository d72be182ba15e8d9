#!/usr/bin/env bash
# compat/postfix/demo.sh - build the Postfix TLS library on mtatls, then
# pass one message over STARTTLS from Debian's real smtp(8) client to
# Debian's real smtpd(8), both daemons loading OUR libpostfix-tls.so
# (import_environment = ... LD_LIBRARY_PATH=...), and print both daemons'
# TLS lines and the Received: header. Private instances on 127.0.0.1,
# stopped and removed at the end, also on failure.
#
#   sudo make -C compat/postfix demo      (or: sudo compat/postfix/demo.sh)
#
# Needs root (Postfix instances run their daemons as postfix/nobody) and
# the real peers: ../shared/peers/install-peers.sh (MTATLS_PEERS_DIR
# overrides where the peer scripts are).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
peers="${MTATLS_PEERS_DIR:-$root/../shared/peers}"

die() { echo "demo.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (private Postfix instances)"
[ -f "$peers/postfix-smtpd.sh" ] || die "no peer scripts in $peers (set MTATLS_PEERS_DIR)"
command -v postfix >/dev/null 2>&1 || [ -x /usr/sbin/postfix ] \
    || die "Postfix is not installed: run $peers/install-peers.sh"

echo "== building the library (make -C compat/postfix full)"
make -s -C "$here" full

# A free port on 127.0.0.1: nothing answers a connect to it.
port=""
for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then port=$p; break; fi
done
[ -n "$port" ] || die "no free port found"

work="$(mktemp -d /tmp/mtatls-postfix-demo.XXXXXX)"
chmod 755 "$work"
srv="$work/smtpd" cli="$work/smtp"
cleanup() {
    bash "$peers/postfix-stop.sh" "$cli" --rm >/dev/null 2>&1 || true
    bash "$peers/postfix-stop.sh" "$srv" --rm >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

# The daemons run as postfix/nobody: a copy of the library they can read.
mkdir -p "$work/lib"
cp "$here/out/libpostfix-tls.so" "$work/lib/"
chmod 755 "$work/lib"
chmod 644 "$work/lib/libpostfix-tls.so"
import="import_environment=MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ XAUTHORITY DISPLAY LANG=C POSTLOG_SERVICE POSTLOG_HOSTNAME MTATLS_POSTFIX_TRACE=1 LD_LIBRARY_PATH=$work/lib"

echo "== real smtpd on 127.0.0.1:$port, real smtp client, both on $work/lib/libpostfix-tls.so"
bash "$peers/postfix-smtpd.sh" "$port" "$srv" "$import" >/dev/null
bash "$peers/postfix-client.sh" "$port" "$cli" "$import" >/dev/null
tag="demo-$$"
status=0
PEERS_TAG="$tag" bash "$peers/postfix-send.sh" "$cli" test@peers.test 30 >/dev/null || status=$?

# MTATLS_POSTFIX_TRACE lines say which library ran; TLS lines say what it did.
tls_lines() { grep -E "mtatls-postfix:|TLS connection|status=|TLS support|warning" "$1" || true; }
echo "== smtp client (Debian's smtp on mtatls):"
tls_lines "$cli/maillog" | sed 's/^/   /'
# The smtpd's lines of this session only: wait (bounded) for its disconnect.
for _ in $(seq 1 50); do grep -q 'disconnect from' "$srv/maillog" && break; sleep 0.1; done
echo "== smtpd (Debian's smtpd on mtatls):"
tls_lines "$srv/maillog" | sed 's/^/   /'
msg="$(grep -l "Subject: $tag" "$srv"/mail/Maildir/new/* 2>/dev/null | head -1 || true)"
if [ "$status" = 0 ] && [ -n "$msg" ]; then
    echo "== delivered; its Received: header:"
    sed -n '/^Received:/,/^[^ \t]/p' "$msg" | sed '$d' | sed 's/^/   /'
else
    die "the message was not delivered (see the lines above)"
fi
