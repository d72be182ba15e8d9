#!/bin/sh
# make-keys.sh DIR: test keys and certificates made with the openssl CLI
# (real OpenSSL, independent of the library under test):
#   DIR/{rsa,ecdsa,ed25519,client}.pem   key + self-signed certificate (chain-file form)
#   DIR/NAME.crt                          the certificate alone
#   DIR/NAME.sha256 / NAME.spki-sha256    certificate / public-key SHA-256 fingerprints
#   DIR/NAME.sha1, NAME.spki-sha256.bin   SHA-1 fingerprint; raw SPKI SHA-256 (TLSA 3 1 1)
#   DIR/dh3072.pem                        DH parameters (ffdhe3072 group)
#   DIR/garbage.pem                       a file that is not PEM
set -eu
dir="${1:?usage: make-keys.sh DIR}"
mkdir -p "$dir"
gen() { # name cn keyopts...
    name=$1; cn=$2; shift 2
    openssl req -x509 -nodes "$@" -sha256 -days 3650 -subj "/CN=$cn/O=mtatls-test" \
        -addext "subjectAltName=DNS:$cn" -keyout "$dir/$name.key" -out "$dir/$name.crt" >/dev/null 2>&1
    cat "$dir/$name.key" "$dir/$name.crt" > "$dir/$name.pem"
    openssl x509 -in "$dir/$name.crt" -noout -fingerprint -sha256 | sed 's/.*=//' > "$dir/$name.sha256"
    openssl x509 -in "$dir/$name.crt" -noout -fingerprint -sha1 | sed 's/.*=//' > "$dir/$name.sha1"
    openssl x509 -in "$dir/$name.crt" -noout -pubkey | openssl pkey -pubin -outform DER \
        | openssl dgst -sha256 -binary > "$dir/$name.spki-sha256.bin"
    openssl x509 -in "$dir/$name.crt" -noout -pubkey | openssl pkey -pubin -outform DER \
        | openssl dgst -sha256 -c | sed 's/.*= //' | tr a-f A-F > "$dir/$name.spki-sha256"
}
gen rsa server.test -newkey rsa:2048
gen ecdsa server.test -newkey ec -pkeyopt ec_paramgen_curve:P-256
gen ed25519 server.test -newkey ed25519
gen client client.test -newkey rsa:2048
openssl genpkey -genparam -algorithm DH -pkeyopt dh_param:ffdhe3072 -out "$dir/dh3072.pem" 2>/dev/null
printf 'this is not a PEM file\n' > "$dir/garbage.pem"
