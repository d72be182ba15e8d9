#!/bin/sh
# install.sh LIBDIR DESTDIR PREFIX VERSION SONAME
# Install a release build of mtatls under DESTDIR/PREFIX:
#   lib/libmtatls.so.VERSION, lib/SONAME -> it, lib/libmtatls.so -> SONAME,
#   lib/libmtatls.a, include/mtatls.h, lib/pkgconfig/mtatls.pc
# The .pc file's Libs.private lists what a static link needs: -lssl -lcrypto
# and the Rust runtime libraries rustc reports (--print native-static-libs).
set -eu
libdir_build=$1 destdir=$2 prefix=$3 version=$4 soname=$5
lib="$destdir$prefix/lib"
inc="$destdir$prefix/include"
pc="$lib/pkgconfig"
mkdir -p "$lib" "$inc" "$pc"

install -m 0755 "$libdir_build/libmtatls.so" "$lib/libmtatls.so.$version"
ln -sf "libmtatls.so.$version" "$lib/$soname"
ln -sf "$soname" "$lib/libmtatls.so"
install -m 0644 "$libdir_build/libmtatls.a" "$lib/libmtatls.a"
install -m 0644 include/mtatls.h "$inc/mtatls.h"

# The native libraries a static link of the Rust code needs.
case "$libdir_build" in */release) profile=--release ;; *) profile= ;; esac
native=$(cargo rustc -q $profile --lib --crate-type staticlib -- --print native-static-libs 2>&1 \
    | sed -n 's/.*native-static-libs: //p' | head -n 1)
[ -n "$native" ] || native="-lssl -lcrypto -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc"
# -lssl/-lcrypto first, each library once, in order.
private=$(printf '%s\n' -lssl -lcrypto $native | awk '!seen[$0]++' | tr '\n' ' ' | sed 's/ $//')

cat > "$pc/mtatls.pc" <<PC
prefix=$prefix
exec_prefix=\${prefix}
libdir=\${exec_prefix}/lib
includedir=\${prefix}/include

Name: mtatls
Description: Postfix-compatible STARTTLS for C mail servers (Rust, system OpenSSL 3)
Version: $version
Requires.private: libssl libcrypto
Libs: -L\${libdir} -lmtatls
Libs.private: $private
Cflags: -I\${includedir}
PC
echo "installed mtatls $version under $destdir$prefix"
