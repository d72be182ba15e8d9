#!/usr/bin/env bash
# compat/postfix/demo.sh - build the Postfix TLS library on mtatls, then
# pass one message over STARTTLS from the real smtp(8) client to the real
# smtpd(8), both daemons loading OUR libpostfix-tls.so, and print both
# daemons' TLS lines and the Received: header. Private instances on
# 127.0.0.1 (the test harness's: tests/common/postfix.rs), stopped and
# removed at the end, also on failure.
#
#   sudo make -C compat/postfix demo      (or: sudo compat/postfix/demo.sh)
#   sudo make -C compat/postfix demo PF_ROOT=/opt/postfix-VERSION
#
# Needs root (Postfix instances run their daemons as postfix/nobody) and
# Postfix: Debian's package (apt-get install postfix) by default, or the
# Postfix tree under PF_ROOT (built from source; the library is built for
# that release).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

die() { echo "demo.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (private Postfix instances)"
if [ -n "${PF_ROOT:-}" ]; then
    [ -d "$PF_ROOT" ] || die "PF_ROOT=$PF_ROOT: no such directory"
    export MTATLS_PF_ROOT="$(cd "$PF_ROOT" && pwd)"
else
    unset MTATLS_PF_ROOT
    command -v postfix >/dev/null 2>&1 || [ -x /usr/sbin/postfix ] \
        || die "Postfix is not installed: apt-get install postfix"
fi

cd "$root"
# The harness builds the library (make -C compat/postfix) and runs the
# daemons; a missing peer is an error here, not a skip.
MTATLS_REQUIRE_PEERS=1 exec cargo test -q -p mtatls --test postfix_shim \
    demo_message_between_real_daemons_on_our_library -- --nocapture --exact
