#!/bin/sh
# prereqs.sh - check what building mtatls needs besides the Rust toolchain:
# a C compiler, pkg-config and OpenSSL 3's headers (libssl-dev). When any is
# missing and we are root on a Debian-like system, install them with
# apt-get; otherwise name the command to run and fail.
set -u

missing=
command -v cc >/dev/null 2>&1 || missing="$missing gcc"
command -v pkg-config >/dev/null 2>&1 || missing="$missing pkg-config"
if ! pkg-config --atleast-version=3.0.0 openssl 2>/dev/null; then
    missing="$missing libssl-dev"
fi
[ -z "$missing" ] && exit 0

echo "prereqs.sh: missing:$missing" >&2
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "prereqs.sh: installing them with apt-get" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing ||
        { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing; } ||
        { echo "prereqs.sh: apt-get install$missing failed" >&2; exit 1; }
    exit 0
fi
echo "prereqs.sh: install them first, e.g.: sudo apt-get install$missing" >&2
exit 1
