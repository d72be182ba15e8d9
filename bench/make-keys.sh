#!/bin/sh
# make-keys.sh DIR: the benchmark's PKI, made with the openssl CLI.
#   DIR/root.pem                     root CA certificate (the clients' CAfile)
#   DIR/{rsa,ecdsa,ed25519}.pem      server chain files: key, leaf, intermediate
#                                    (leaf CN/SAN server.test, issued by the
#                                    intermediate, which the root issued)
#   DIR/dh2048.pem                   DH parameters (the ffdhe2048 group)
#   DIR/main.cf                      a main.cf for the context-init case
# Existing files are kept (delete DIR to start over).
set -eu
dir="${1:?usage: make-keys.sh DIR}"
mkdir -p "$dir"
cd "$dir"
[ -f main.cf ] && exit 0
cat > ca.ext <<'X'
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
X
cat > leaf.ext <<'X'
basicConstraints = critical, CA:FALSE
subjectAltName = DNS:server.test
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
X
q() { "$@" >/dev/null 2>&1 || { echo "make-keys.sh: failed: $*" >&2; exit 1; }; }
q openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 -keyout root.key -out root.pem \
    -subj "/O=mtatls-bench/CN=mtatls bench root CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
q openssl req -new -newkey rsa:2048 -nodes -keyout int.key -out int.csr \
    -subj "/O=mtatls-bench/CN=mtatls bench intermediate CA"
q openssl x509 -req -in int.csr -CA root.pem -CAkey root.key -set_serial 2 -days 3650 -sha256 \
    -extfile ca.ext -out int.crt
serial=10
for spec in rsa:rsa:2048 ecdsa:ec:prime256v1 ed25519:ed25519:; do
    name=${spec%%:*}; rest=${spec#*:}; alg=${rest%%:*}; arg=${rest#*:}
    case $alg in
    rsa) q openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:$arg -out $name.key ;;
    ec) q openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:$arg -out $name.key ;;
    ed25519) q openssl genpkey -algorithm ED25519 -out $name.key ;;
    esac
    q openssl req -new -key $name.key -out $name.csr -subj "/O=mtatls-bench/CN=server.test"
    serial=$((serial + 1))
    q openssl x509 -req -in $name.csr -CA int.crt -CAkey int.key -set_serial $serial -days 3650 \
        -sha256 -extfile leaf.ext -out $name.crt
    cat $name.key $name.crt int.crt > $name.pem
done
q openssl genpkey -genparam -algorithm DH -pkeyopt dh_param:ffdhe2048 -out dh2048.pem
here=$(pwd)
cat > main.cf <<X
# main.cf of the context-init case (non-TLS lines as a real one has them)
compatibility_level = 3.6
myhostname = server.test
mydomain = test
myorigin = \$mydomain
inet_interfaces = all
mydestination = \$myhostname, localhost.\$mydomain, localhost
mynetworks = 127.0.0.0/8 [::1]/128
smtpd_banner = \$myhostname ESMTP
alias_maps = hash:/etc/aliases
recipient_delimiter = +
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_tls_security_level = may
smtpd_tls_chain_files =
    $here/rsa.pem,
    $here/ecdsa.pem
smtpd_tls_CAfile = $here/root.pem
smtpd_tls_loglevel = 0
smtp_tls_security_level = may
smtp_tls_CAfile = $here/root.pem
smtp_tls_loglevel = 0
X
rm -f ./*.csr
