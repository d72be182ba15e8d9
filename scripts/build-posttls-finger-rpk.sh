#!/bin/sh
# build-posttls-finger-rpk.sh - build Postfix's posttls-finger from a Postfix
# source tarball against the OpenSSL (3.2 or later) that `cargo build
# --features vendored` compiled, for tests/rpk.rs's comparison with real
# Postfix: raw public keys need OpenSSL 3.2, and the system's (Debian 12)
# is 3.0, as is every Postfix built against it.
#
# usage: scripts/build-posttls-finger-rpk.sh POSTFIX-TARBALL DESTDIR
#        (after a vendored build, e.g. `CARGO_TARGET_DIR=target/vendored
#        cargo test -p mtatls --features vendored --no-run`; the OpenSSL is
#        found under ${CARGO_TARGET_DIR:-target/vendored})
# then:  MTATLS_RPK_POSTTLS_FINGER=DESTDIR CARGO_TARGET_DIR=target/vendored \
#        cargo test -p mtatls --features vendored rpk
#
# DESTDIR gets posttls-finger, etc/main.cf and the OpenSSL it was linked
# with (statically). Needs gcc, make, m4 and libdb-dev (Postfix's build).
set -eu
tarball="${1:?usage: $0 POSTFIX-TARBALL DESTDIR}"
dest="${2:?usage: $0 POSTFIX-TARBALL DESTDIR}"
target="${CARGO_TARGET_DIR:-target/vendored}"

# The newest OpenSSL install tree openssl-src left in the target directory.
ossl=""
for d in "$target"/debug/build/openssl-sys-*/out/openssl-build/install; do
    [ -f "$d/include/openssl/opensslv.h" ] && [ -f "$d/lib/libssl.a" ] || continue
    if [ -z "$ossl" ] || [ "$d/lib/libssl.a" -nt "$ossl/lib/libssl.a" ]; then
        ossl="$d"
    fi
done
[ -n "$ossl" ] || { echo "$0: no vendored OpenSSL under $target (build with --features vendored first)" >&2; exit 1; }
version="$(sed -n 's/^# *define OPENSSL_VERSION_STR "\(.*\)"/\1/p' "$ossl/include/openssl/opensslv.h")"
case "$version" in
    3.[0-1].*) echo "$0: $ossl is OpenSSL $version; raw public keys need 3.2 or later" >&2; exit 1 ;;
esac

mkdir -p "$dest"
dest="$(cd "$dest" && pwd)"
rm -rf "$dest/openssl" "$dest/src"
cp -R "$ossl" "$dest/openssl"
mkdir -p "$dest/src" "$dest/etc"
tar -xzf "$tarball" -C "$dest/src"
src="$(ls -d "$dest"/src/postfix-*/ | head -1)"
log="$dest/build.log"
(
    cd "$src"
    make makefiles CCARGS="-DUSE_TLS -I$dest/openssl/include -DDEF_CONFIG_DIR=\\\"$dest/etc\\\"" \
        AUXLIBS="$dest/openssl/lib/libssl.a $dest/openssl/lib/libcrypto.a -lpthread -ldl" \
        shared=no dynamicmaps=no
    make -j"$(nproc)"
) >"$log" 2>&1 || { tail -30 "$log" >&2; echo "$0: the Postfix build failed (log: $log)" >&2; exit 1; }
cp "$src/bin/posttls-finger" "$dest/posttls-finger"
printf 'compatibility_level = 3.11\n' >"$dest/etc/main.cf"
echo "$0: $dest/posttls-finger ($(basename "$src"), OpenSSL $version)"
