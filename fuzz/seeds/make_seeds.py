#!/usr/bin/env python3
"""Make the binary seeds of the fuzz corpora: real TLS flights and DER
certificates.

Runs client and server handshakes in memory (Python's ssl over the system
OpenSSL, MemoryBIO, no sockets) and writes what each side sent:

  corpus/server_handshake/  what a client sends (ClientHello, and for some
                            TLS 1.2 seeds its whole second flight too)
  corpus/client_handshake/  what a server sends back (ServerHello flights,
                            HelloRetryRequest, alerts)
  corpus/fingerprint_and_match/cert-*.der  certificates with ordinary and
                            awkward subject/issuer names

Keys and certificates are made with the openssl command in a temporary
directory. Every run gives different bytes (randoms, keys): the committed
seeds are one such run. Usage: python3 fuzz/seeds/make_seeds.py
"""

import os
import ssl
import subprocess
import warnings
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "..", "corpus")


def sh(*args):
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def make_keys(d):
    def cert(name, keyopts):
        key, crt = os.path.join(d, name + ".key"), os.path.join(d, name + ".crt")
        sh("openssl", "req", "-x509", "-newkey", *keyopts, "-nodes", "-days", "365",
           "-subj", "/CN=" + name + ".example.net", "-keyout", key, "-out", crt)
        return crt, key

    rsa = cert("rsa", ["rsa:2048"])
    ec = cert("ec", ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"])
    client = cert("client", ["rsa:2048"])
    dh = os.path.join(d, "dh.pem")
    sh("openssl", "genpkey", "-genparam", "-algorithm", "DH", "-pkeyopt", "group:ffdhe2048", "-out", dh)
    return rsa, ec, client, dh


def der_cert(d, name, subj, keyopts=("rsa:2048",)):
    out = os.path.join(d, name + ".der")
    sh("openssl", "req", "-x509", "-utf8", "-newkey", *keyopts, "-nodes", "-days", "365",
       "-subj", subj, "-keyout", os.path.join(d, name + ".key"), "-outform", "DER", "-out", out)
    with open(out, "rb") as f:
        return f.read()


def pump(src, dst):
    data = src.outgoing.read()
    dst.incoming.write(data)
    return data


class End:
    def __init__(self, ctx, server, hostname=None):
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = ctx.wrap_bio(self.incoming, self.outgoing, server_side=server,
                                server_hostname=hostname)

    def step(self):
        try:
            self.obj.do_handshake()
            return True
        except ssl.SSLWantReadError:
            return False


def client_ctx(max_version=None, min_version=None, ciphers=None, cert=None, alpn=None,
               compat=False):
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    if not compat:
        # mtatls clears OpenSSL's default options, middlebox compatibility
        # mode included: its ClientHello has an empty legacy session id,
        # and a server flight answering one with a session id is refused.
        c.options &= ~ssl.OP_ENABLE_MIDDLEBOX_COMPAT
    if ciphers:
        c.set_ciphers(ciphers)
    if min_version:
        c.minimum_version = min_version
    if max_version:
        c.maximum_version = max_version
    if cert:
        c.load_cert_chain(*cert)
    if alpn:
        c.set_alpn_protocols(alpn)
    return c


def server_ctx(chain, ciphers=None, ask_cert=False, curve=None, dh=None, max_version=None,
               ca=None, compat=False):
    s = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    if not compat:
        s.options &= ~ssl.OP_ENABLE_MIDDLEBOX_COMPAT
    s.load_cert_chain(*chain)
    if ciphers:
        s.set_ciphers(ciphers)
    if ask_cert:
        s.verify_mode = ssl.CERT_OPTIONAL
        s.load_verify_locations(ca)
    if curve:
        s.set_ecdh_curve(curve)
    if dh:
        s.load_dh_params(dh)
    if max_version:
        s.maximum_version = max_version
    return s


def run(cctx, sctx, hostname=None, rounds=4):
    """Handshake; the flights each side sent, in order (lists of bytes)."""
    c, s = End(cctx, False, hostname), End(sctx, True)
    sent_c, sent_s = [], []
    for _ in range(rounds):
        try:
            c_done = c.step()
        except ssl.SSLError:
            c_done = True
        sent_c.append(pump(c, s))
        try:
            s_done = s.step()
        except ssl.SSLError:
            s_done = True
        sent_s.append(pump(s, c))
        if c_done and s_done:
            break
    return [x for x in sent_c if x], [x for x in sent_s if x]


def save(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)
    print(f"{target}/{name}: {len(data)} bytes")


def main():
    warnings.simplefilter("ignore", DeprecationWarning)
    tls12, tls13, tls1 = ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1
    with tempfile.TemporaryDirectory() as d:
        rsa, ec, client, dh = make_keys(d)
        ca = os.path.join(d, "ca.pem")
        with open(ca, "w") as f:
            f.write(open(client[0]).read())

        # --- what clients send (server_handshake) ---
        c, _ = run(client_ctx(), server_ctx(rsa), hostname="mx1.example.net")
        save("server_handshake", "clienthello-tls13-sni", c[0])
        save("server_handshake", "client-tls13-full", b"".join(c))
        c, _ = run(client_ctx(compat=True), server_ctx(rsa, compat=True))
        save("server_handshake", "clienthello-tls13-compat", c[0])
        c, _ = run(client_ctx(max_version=tls12), server_ctx(rsa))
        save("server_handshake", "clienthello-tls12", c[0])
        c, _ = run(client_ctx(max_version=tls12, cert=client),
                   server_ctx(rsa, ask_cert=True, ca=ca, ciphers="ECDHE-RSA-AES128-GCM-SHA256"))
        save("server_handshake", "client-tls12-ecdhe-with-cert", b"".join(c))
        c, _ = run(client_ctx(max_version=tls12, cert=client, ciphers="AES128-GCM-SHA256"),
                   server_ctx(rsa, ask_cert=True, ca=ca, ciphers="AES128-GCM-SHA256"))
        save("server_handshake", "client-tls12-rsa-kx-with-cert", b"".join(c))
        c, _ = run(client_ctx(max_version=tls12, ciphers="DHE-RSA-AES256-GCM-SHA384"),
                   server_ctx(rsa, ciphers="DHE-RSA-AES256-GCM-SHA384", dh=dh))
        save("server_handshake", "clienthello-tls12-dhe-only", c[0])
        c, _ = run(client_ctx(alpn=["smtp", "h2"]), server_ctx(rsa))
        save("server_handshake", "clienthello-alpn", c[0])
        c, _ = run(client_ctx(min_version=tls1, max_version=tls1, ciphers="DEFAULT:@SECLEVEL=0"),
                   server_ctx(rsa))
        save("server_handshake", "clienthello-tls10", c[0])
        # An SSLv2-format ClientHello (version 3.1, three cipher specs).
        body = bytes([0x01, 0x03, 0x01, 0x00, 0x09, 0x00, 0x00, 0x00, 0x10,
                      0x00, 0x00, 0x2f, 0x00, 0x00, 0x35, 0x00, 0x00, 0xff]) + os.urandom(16)
        save("server_handshake", "clienthello-sslv2-format", bytes([0x80, len(body)]) + body)
        save("server_handshake", "plaintext-ehlo", b"EHLO client.example\r\n")

        # --- certificates (fingerprint_and_match) ---
        save("fingerprint_and_match", "cert-rsa.der",
             der_cert(d, "c1", "/O=Example/CN=mx1.example.net"))
        save("fingerprint_and_match", "cert-ec-no-cn.der",
             der_cert(d, "c2", "/O=Example (Test) Mail/OU=MX", ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"]))
        save("fingerprint_and_match", "cert-utf8-cn.der",
             der_cert(d, "c3", "/CN=mx-\u00e9t\u00e9.example (relay\\\\1))"))
        save("fingerprint_and_match", "cert-control-cn.der",
             der_cert(d, "c4", "/CN=mx1\x07.example.net"))

        # --- what servers send (client_handshake) ---
        _, s = run(client_ctx(), server_ctx(rsa))
        save("client_handshake", "server-tls13-rsa", s[0])
        _, s = run(client_ctx(), server_ctx(ec))
        save("client_handshake", "server-tls13-ecdsa", s[0])
        _, s = run(client_ctx(), server_ctx(rsa, curve="secp384r1"))
        save("client_handshake", "server-tls13-hrr", s[0])
        _, s = run(client_ctx(max_version=tls12), server_ctx(rsa, ciphers="ECDHE-RSA-AES256-GCM-SHA384"))
        save("client_handshake", "server-tls12-ecdhe-rsa", s[0])
        _, s = run(client_ctx(max_version=tls12), server_ctx(ec, ciphers="ECDHE-ECDSA-AES128-GCM-SHA256"))
        save("client_handshake", "server-tls12-ecdhe-ecdsa", s[0])
        _, s = run(client_ctx(max_version=tls12, ciphers="AES128-GCM-SHA256"),
                   server_ctx(rsa, ciphers="AES128-GCM-SHA256", ask_cert=True, ca=ca))
        save("client_handshake", "server-tls12-rsa-kx-certreq", s[0])
        _, s = run(client_ctx(max_version=tls12, ciphers="DHE-RSA-AES256-GCM-SHA384"),
                   server_ctx(rsa, ciphers="DHE-RSA-AES256-GCM-SHA384", dh=dh))
        save("client_handshake", "server-tls12-dhe-rsa", s[0])
        _, s = run(client_ctx(max_version=tls12, ciphers="AES128-GCM-SHA256"),
                   server_ctx(rsa, ciphers="AES128-GCM-SHA256"))
        save("client_handshake", "server-tls12-rsa-kx", s[0])
        # A handshake_failure alert, and a server that never started TLS.
        save("client_handshake", "alert-handshake-failure", bytes.fromhex("15030300020228"))
        save("client_handshake", "plaintext-454",
             b"454 4.7.0 TLS not available due to local problem\r\n")


if __name__ == "__main__":
    main()
