"""Tests of the blocking API of the mtatls package: a client and a server
over socket.socketpair() (threads, or one thread with selectors), through
the C library. Run from the repository root after `cargo build`:

    MTATLS_LIB=target/debug/libmtatls.so python3 -m pytest -q python/tests

Every wait is bounded (TIMEOUT seconds for library calls, thread joins)
and every socket is closed by a `with` block.
"""

import ctypes
import hashlib
import logging
import os
import re
import selectors
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time

import pytest

import mtatls
from mtatls import _lib

TIMEOUT = 5
SERVER_LABEL = "localhost[127.0.0.1]"
CLIENT_LABEL = "localhost[127.0.0.1]:25"
T13 = ("TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519"
       " server-signature RSA-PSS (2048 bits) server-digest SHA256")
HEADER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "include", "mtatls.h")


# ---- helpers ----

def colon_hex(data):
    return ":".join("%02X" % b for b in data)


def der_tlv(buf, off):
    """(content start, end) of the DER element at off."""
    n = buf[off + 1]
    if n < 0x80:
        return off + 2, off + 2 + n
    k = n & 0x7F
    return off + 2 + k, off + 2 + k + int.from_bytes(buf[off + 2:off + 2 + k], "big")


def spki_der(cert_der):
    """SubjectPublicKeyInfo of an X.509 certificate, as DER."""
    tbs, _ = der_tlv(cert_der, 0)
    off, _ = der_tlv(cert_der, tbs)   # into tbsCertificate
    if cert_der[off] == 0xA0:          # [0] version
        off = der_tlv(cert_der, off)[1]
    for _ in range(5):                 # serial, signature, issuer, validity, subject
        off = der_tlv(cert_der, off)[1]
    return cert_der[off:der_tlv(cert_der, off)[1]]


def cert_der_from(path):
    with open(path) as f:
        m = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", f.read(), re.S)
    return ssl.PEM_cert_to_DER_cert(m.group(0))


def plain_line(sock):
    line = b""
    while not line.endswith(b"\n"):
        c = sock.recv(1)
        if not c:
            raise ConnectionError("EOF in plain SMTP")
        line += c
    return line


def tls_line(s):
    line = b""
    while not line.endswith(b"\n"):
        c = s.read(1, timeout=TIMEOUT)
        if not c:
            raise ConnectionError("EOF in TLS")
        line += c
    return line


def server_side(ctx, sock, r):
    sock.sendall(b"220 server.test ESMTP\r\n")
    assert plain_line(sock).startswith(b"EHLO ")
    sock.sendall(b"250-server.test\r\n250 STARTTLS\r\n")
    assert plain_line(sock) == b"STARTTLS\r\n"
    sock.sendall(b"220 2.0.0 Ready to start TLS\r\n")
    with mtatls.Session(ctx, sock, SERVER_LABEL) as s:
        try:
            s.handshake(timeout=TIMEOUT)
        except mtatls.NotVerified as e:
            r["error"] = e
        r["summary"], r["info"], r["received"] = s.summary(), s.info, s.received_header()
        r["tlsrpt"] = s.tlsrpt()
        assert tls_line(s) == b"QUIT\r\n"
        s.write(b"221 2.0.0 Bye\r\n", timeout=TIMEOUT)
        s.stop(timeout=TIMEOUT)
        r["done"] = True


def client_side(ctx, sock, r, setup=None):
    assert plain_line(sock).startswith(b"220 ")
    sock.sendall(b"EHLO client.test\r\n")
    plain_line(sock)
    assert plain_line(sock) == b"250 STARTTLS\r\n"
    sock.sendall(b"STARTTLS\r\n")
    assert plain_line(sock).startswith(b"220 ")
    with mtatls.Session(ctx, sock, CLIENT_LABEL) as s:
        if setup:
            setup(s)
        try:
            s.handshake(timeout=TIMEOUT)
        except mtatls.NotVerified as e:  # still usable for QUIT
            r["error"] = e
        r["summary"], r["info"] = s.summary(), s.info
        r["tlsrpt"] = s.tlsrpt()
        r["certs"], r["certs_der"] = s.peer_certificates(), s.peer_certificates(der=True)
        r["verified"] = s.peer_certificates(verified=True, der=True)
        s.write(b"QUIT\r\n", timeout=TIMEOUT)
        r["reply"] = tls_line(s)
        r["eof"] = s.read(100, timeout=TIMEOUT)  # the server's close_notify
        r["truncated"] = s.truncated
        s.stop(timeout=TIMEOUT)
        r["done"] = True


def run_pair(server_ctx, client_ctx, setup=None):
    """One STARTTLS connection in two threads; returns (server, client) dicts."""
    results = ({}, {})

    def guard(fn, args, r, sock):
        try:
            fn(*args)
        except BaseException as e:  # recorded; the other side sees EOF at once
            r.setdefault("error", e)
            r["exception"] = e
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    a, b = socket.socketpair()
    with a, b:
        threads = [
            threading.Thread(target=guard, args=(server_side, (server_ctx, a, results[0]), results[0], a)),
            threading.Thread(target=guard, args=(client_side, (client_ctx, b, results[1], setup),
                                                 results[1], b)),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(4 * TIMEOUT)
        if any(t.is_alive() for t in threads):
            a.shutdown(socket.SHUT_RDWR)
            b.shutdown(socket.SHUT_RDWR)
            for t in threads:
                t.join(TIMEOUT)
            pytest.fail("connection did not finish in time")
    for r in results:
        if "exception" in r:
            raise r["exception"]
    return results


# ---- fixtures ----

@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("keys") / "server.pem")
    with mtatls.Params(log=None) as p:
        p.self_signed("server.test", path)
        assert p.get("smtpd_tls_chain_files") == path
    return path


def make_server(cert, **extra):
    with mtatls.Params() as p:
        p.set("smtpd_tls_security_level", "may")
        p.set("smtpd_tls_chain_files", cert)
        p.set("smtpd_tls_received_header", "yes")
        for k, v in extra.items():
            p.set(k, v)
        return mtatls.Context.server(p)


def make_client(cache=None, **extra):
    with mtatls.Params() as p:
        p.set("smtp_tls_security_level", "may")
        for k, v in extra.items():
            p.set(k, v)
        if cache is not None:
            p.session_cache(*cache)
        return mtatls.Context.client(p)


@pytest.fixture
def server_ctx(cert):
    with make_server(cert) as ctx:
        yield ctx


@pytest.fixture
def client_ctx():
    with make_client() as ctx:
        yield ctx


# ---- tests ----

def test_version_and_library():
    assert mtatls.version().startswith("mtatls ")
    assert "OpenSSL" in mtatls.version()
    assert os.path.basename(mtatls.library_path()).startswith("libmtatls")


def test_facts_struct_matches_c(tmp_path):
    """The ctypes struct has the C layout (compiled against mtatls.h)."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc or not os.path.exists(HEADER):
        pytest.skip("no C compiler or header")
    fields = [name for name, _ in _lib.Facts._fields_]
    src = tmp_path / "layout.c"
    src.write_text(
        '#include <stdio.h>\n#include <stddef.h>\n#include "mtatls.h"\nint main(void) {\n'
        '  printf("%zu\\n", sizeof(mtatls_session_facts));\n'
        + "".join('  printf("%%zu %%zu\\n", offsetof(mtatls_session_facts, %s), '
                  'sizeof(((mtatls_session_facts *)0)->%s));\n' % (f, f) for f in fields)
        + "  return 0;\n}\n")
    exe = tmp_path / "layout"
    subprocess.run([cc, "-std=c11", "-I", os.path.dirname(HEADER), str(src), "-o", str(exe)],
                   check=True, timeout=60)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True, timeout=10).stdout.split("\n")
    assert int(out[0]) == ctypes.sizeof(_lib.Facts)
    for f, line in zip(fields, out[1:]):
        off, size = map(int, line.split())
        assert (getattr(_lib.Facts, f).offset, getattr(_lib.Facts, f).size) == (off, size), f


def test_handshake_summaries_facts_fingerprints(cert, server_ctx, client_ctx):
    assert server_ctx.received_header and not server_ctx.wrappermode and not server_ctx.tls_required
    srv, cli = run_pair(server_ctx, client_ctx)
    assert srv["summary"] == "Anonymous TLS connection established from %s: %s" % (SERVER_LABEL, T13)
    assert cli["summary"] == "Untrusted TLS connection established to %s: %s" % (CLIENT_LABEL, T13)
    assert srv["received"] == (
        "\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)\n"
        "\t key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256)\n"
        "\t(No client certificate requested)")
    assert cli["reply"] == b"221 2.0.0 Bye\r\n"
    assert cli["eof"] == b"" and cli["truncated"] is False

    der = cert_der_from(cert)
    ci, si = cli["info"], srv["info"]
    assert isinstance(ci, mtatls.SessionInfo)
    assert (ci.protocol, ci.cipher_name, ci.cipher_usebits, ci.cipher_algbits) == \
        ("TLSv1.3", "TLS_AES_256_GCM_SHA384", 256, 256)
    assert (ci.kex_name, ci.kex_curve, ci.kex_bits) == ("X25519", "", 0)
    assert (ci.srvr_sig_name, ci.srvr_sig_curve, ci.srvr_sig_bits, ci.srvr_sig_dgst) == \
        ("RSA-PSS", "", 2048, "SHA256")
    assert (ci.clnt_sig_name, ci.clnt_sig_bits) == ("", 0)
    assert ci.peer_cn == "server.test" and ci.issuer_cn == "server.test"
    assert ci.peer_cert_fprint == colon_hex(hashlib.sha256(der).digest())
    assert ci.peer_pkey_fprint == colon_hex(hashlib.sha256(spki_der(der)).digest())
    assert ci.peer_label == CLIENT_LABEL
    assert ci.trust is mtatls.Trust.UNTRUSTED and ci.peer_status == mtatls.CertStatus.PRESENT
    assert ci.forward_secret and not ci.reused and not ci.am_server
    assert si.am_server and si.trust == mtatls.Trust.ANONYMOUS and si.peer_cert_fprint == ""
    assert si.peer_label == SERVER_LABEL and si.srvr_sig_name == "RSA-PSS"
    with pytest.raises(Exception):
        ci.protocol = "x"  # frozen


def test_parameter_errors(cert):
    with mtatls.Params() as p:
        p.set("no_such_parameter", "x")  # kept, as in a main.cf
        assert p["no_such_parameter"] == "x"
        with pytest.raises(mtatls.ParameterError) as e:
            p.set("no such parameter", "x")
        assert type(e.value) is mtatls.UnknownParameter
        assert str(e.value) == e.value.message == 'bad parameter name: "no such parameter"'
        assert (e.value.code, e.value.name) == (100, "MTATLS_RESULT_UNKNOWN_PARAMETER")

        with pytest.raises(mtatls.InvalidValue) as e:
            p.set("smtpd_tls_security_level", "bogus")
        assert e.value.code == 101 and "smtpd_tls_security_level" in str(e.value) and "bogus" in str(e.value)

        with pytest.raises(mtatls.InvalidArgument) as e:
            mtatls.Context(p, "bogus")
        assert e.value.code == 3 and 'unknown role prefix "bogus"' in str(e.value)
        assert isinstance(e.value, mtatls.UsageError) and isinstance(e.value, ValueError)

        with pytest.raises(mtatls.ConfigFileError):
            p.load_file("/nonexistent/main.cf")
        with pytest.raises(mtatls.UnknownParameter):
            p.get("nosuch")

        p.load_string("mydir = /x\nsmtpd_tls_CAfile = $mydir/ca.pem\n", "test.cf")
        assert p["smtpd_tls_CAfile"] == "/x/ca.pem"

        p.set("smtpd_tls_chain_files", cert)  # default level: TLS off
        with pytest.raises(mtatls.PolicyError) as e:
            mtatls.Context.server(p)
        assert isinstance(e.value, mtatls.ContextError) and "smtpd_tls_security_level" in str(e.value)
        p.set("smtpd_tls_security_level", "may")
        p.set("smtpd_tls_chain_files", "/nonexistent/chain.pem")
        with pytest.raises(mtatls.ContextError) as e:
            mtatls.Context.server(p)
        assert 200 <= e.value.code < 300 and "/nonexistent/chain.pem" in str(e.value)
    with pytest.raises(ValueError):
        p.set("smtpd_tls_loglevel", "1")  # closed


def test_session_usage_errors(server_ctx, client_ctx):
    a, b = socket.socketpair()
    with a, b, mtatls.Session(server_ctx, a, SERVER_LABEL) as s, mtatls.Session(client_ctx, b, CLIENT_LABEL) as c:
        assert s.info is None and s.summary() == "" and s.received_header() == ""
        with pytest.raises(mtatls.InvalidArgument):
            s.set_level("secure")              # a server session
        with pytest.raises(mtatls.InvalidValue):
            c.set_level("bogus")
        with pytest.raises(mtatls.BadState):
            c.read(10, timeout=1)              # before the handshake
        with pytest.raises(mtatls.WantRead):   # nothing from the client yet
            s.handshake(timeout=0)
    with make_client() as cctx, pytest.raises(mtatls.BadState):
        cctx.set_ticket_key(os.urandom(80), int(time.time()) + 3600)
    with pytest.raises(mtatls.InvalidArgument):
        server_ctx.set_ticket_key(b"short", 1)


def test_handshake_timeout(client_ctx):
    a, b = socket.socketpair()
    with a, b, mtatls.Session(client_ctx, b, CLIENT_LABEL) as c:
        t0 = time.monotonic()
        with pytest.raises(mtatls.TimeoutError_) as e:
            c.handshake(timeout=1)             # nobody answers on a
        assert isinstance(e.value, mtatls.SessionError) and e.value.code == 301
        assert time.monotonic() - t0 < 3


def test_fingerprint_match_and_mismatch(cert, server_ctx, client_ctx):
    der = cert_der_from(cert)
    good = colon_hex(hashlib.sha256(der).digest())

    def level(match):
        def setup(s):
            s.set_level("fingerprint")
            s.set_match(match)
        return setup

    srv, cli = run_pair(server_ctx, client_ctx, level(good))
    assert "error" not in cli
    assert cli["summary"] == "Verified TLS connection established to %s: %s" % (CLIENT_LABEL, T13)
    assert cli["info"].trust is mtatls.Trust.VERIFIED
    assert cli["info"].peer_status & mtatls.CertStatus.MATCHED

    bad = colon_hex(hashlib.sha256(b"not the certificate").digest())
    srv, cli = run_pair(server_ctx, client_ctx, level(bad))
    e = cli["error"]
    assert isinstance(e, mtatls.NotVerified) and e.code == 306
    assert "num=65:no matching DANE TLSA records" in e.message
    assert cli["summary"].startswith("Untrusted TLS connection established to ")
    assert cli["info"].trust is mtatls.Trust.UNTRUSTED
    # The session carried QUIT after NOT_VERIFIED.
    assert cli["reply"] == b"221 2.0.0 Bye\r\n" and srv.get("done")


def test_tlsrpt_facts_of_client_sessions(cert, server_ctx, client_ctx):
    """TLSRPT facts as Postfix 3.11 reports them (compared with real
    Postfix by tests/tlsrpt.rs): success, a fingerprint mismatch, an
    untrusted self-signed certificate, a TLSA mismatch."""
    host, addr = CLIENT_LABEL.split("[")[0], CLIENT_LABEL.split("[")[1].split("]")[0]

    def setup(level, match=None, tlsa=None):
        def f(s):
            s.set_level(level)
            s.set_peer_names(host, "example.test")
            if match:
                s.set_match(match)
            if tlsa:
                s.add_tlsa(*tlsa)
        return f

    with make_client(mtatls_postfix_release="3.11.6") as ctx:
        srv, cli = run_pair(server_ctx, ctx, setup("may"))
        assert srv["tlsrpt"] is None
        t = cli["tlsrpt"]
        assert (t.result, t.result_name, t.reason, t.policy_type, t.policy_domain) == (
            0, "success", "", 9, "example.test")
        assert (t.receiving_mx, t.receiving_ip, t.additional_info, t.policy_strings) == (host, addr, "", [])

        bad = colon_hex(hashlib.sha256(b"not the certificate").digest())
        t = run_pair(server_ctx, ctx, setup("fingerprint", match=bad))[1]["tlsrpt"]
        assert (t.result, t.result_name, t.reason, t.policy_type) == (203, "certificate-not-trusted", "", 9)

        t = run_pair(server_ctx, ctx, setup("secure", match="server.test"))[1]["tlsrpt"]
        assert (t.result, t.result_name, t.reason) == (205, "validation-failure", "self-signed_certificate")

        wrong = hashlib.sha256(b"not the key").digest()
        t = run_pair(server_ctx, ctx, setup("dane", tlsa=(3, 1, 1, wrong)))[1]["tlsrpt"]
        assert (t.result, t.policy_type, t.policy_domain) == (203, 1, host)
        assert t.policy_strings == ["3 1 1 " + wrong.hex().upper()]


def test_nonblocking_with_selectors(server_ctx, client_ctx):
    a, b = socket.socketpair()
    with a, b, selectors.DefaultSelector() as sel:
        # Plain SMTP fits in the socket buffers: one thread is enough.
        a.sendall(b"220 server.test ESMTP\r\n")
        assert plain_line(b).startswith(b"220")
        b.sendall(b"STARTTLS\r\n")
        assert plain_line(a) == b"STARTTLS\r\n"
        a.sendall(b"220 2.0.0 Ready to start TLS\r\n")
        assert plain_line(b).startswith(b"220")
        with mtatls.Session(server_ctx, a, SERVER_LABEL) as s, mtatls.Session(client_ctx, b, CLIENT_LABEL) as c:
            line = b"250 through the event loop\r\n"
            got = bytearray()
            # Each side: a list of steps; each step returns True when done.
            steps = {
                "server": [lambda: s.handshake(0), lambda: s.write(line, 0), lambda: s.stop(0)],
                "client": [lambda: c.handshake(0), lambda: got.extend(c.read(100, 0)) or got.endswith(b"\n"),
                           lambda: c.stop(0)],
            }
            socks = {"server": a, "client": b}
            wants = {}
            deadline = time.monotonic() + TIMEOUT
            while any(steps.values()):
                assert time.monotonic() < deadline, "event loop did not finish"
                for side, todo in steps.items():
                    while todo and side not in wants:
                        try:
                            if todo[0]() is False:       # read: more to come
                                wants[side] = selectors.EVENT_READ
                            else:
                                todo.pop(0)
                        except mtatls.WantRead:
                            wants[side] = selectors.EVENT_READ
                        except mtatls.WantWrite:
                            wants[side] = selectors.EVENT_WRITE
                for side, ev in wants.items():
                    sel.register(socks[side], ev, side)
                ready = [key.data for key, _ in sel.select(timeout=1)]
                for side in list(wants):
                    sel.unregister(socks[side])
                    if side in ready:
                        del wants[side]
            assert bytes(got) == line
            assert s.info.protocol == c.info.protocol == "TLSv1.3"
            assert c.summary().startswith("Untrusted TLS connection established to ")


def test_log_callback_to_logging(caplog, cert):
    caplog.set_level(logging.INFO, logger="mtatls")
    with make_server(cert, smtpd_tls_loglevel="1") as sctx, \
            make_client(smtp_tls_loglevel="1", tls_eecdh_auto_curves="X25519 nosuchcurve") as cctx:
        srv, cli = run_pair(sctx, cctx)
    records = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "mtatls"]
    assert (logging.INFO, srv["summary"]) in records
    assert (logging.INFO, cli["summary"]) in records
    assert (logging.WARNING, 'ignoring unknown key exchange group "nosuchcurve"') in records


def test_custom_log_callback(cert):
    lines = []
    with mtatls.Params(log=lambda level, line: lines.append((level, line))) as p:
        p.set("smtp_tls_security_level", "may")
        p.set("smtp_tls_loglevel", "1")
        cctx = mtatls.Context.client(p)
    with cctx, make_server(cert) as sctx:
        _, cli = run_pair(sctx, cctx)
    assert (mtatls.LOG_INFO, cli["summary"]) in lines


def test_resumption_with_serverid(server_ctx, client_ctx):
    def setup(s):
        s.set_serverid("[localhost]:25")

    srv, cli = run_pair(server_ctx, client_ctx, setup)
    assert not cli["info"].reused and not srv["info"].reused
    srv, cli = run_pair(server_ctx, client_ctx, setup)
    assert cli["info"].reused and srv["info"].reused
    # Without a server id the client neither looks up nor saves.
    srv, cli = run_pair(server_ctx, client_ctx)
    assert not cli["info"].reused


def test_session_cache_callbacks_and_ticket_keys(cert):
    store, calls = {}, []

    def get(key):
        calls.append("get")
        return store.get(key)

    def put(key, data, expires):
        calls.append("put")
        assert isinstance(data, bytes) and expires > time.time()
        store[key] = data

    def remove(key):
        calls.append("remove")
        store.pop(key, None)

    key = os.urandom(mtatls.TICKET_KEY_LEN)
    with make_client(cache=(get, put, remove)) as cctx, make_server(cert) as s1, make_server(cert) as s2:
        s1.set_ticket_key(key, int(time.time()) + 3600)
        s2.set_ticket_key(key, int(time.time()) + 3600)

        def setup(s):
            s.set_serverid("[localhost]:25")

        srv, cli = run_pair(s1, cctx, setup)
        assert not cli["info"].reused
        assert len(store) == 1 and "put" in calls
        (data,) = store.values()
        assert data[:1] == b"\x30"  # a DER-encoded session
        srv, cli = run_pair(s2, cctx, setup)  # another "process" with the same key
        assert cli["info"].reused and srv["info"].reused
        assert calls.count("get") >= 2


def test_peer_certificates_as_sent_and_verified(cert, server_ctx, client_ctx):
    der = cert_der_from(cert)
    pem = ssl.DER_cert_to_PEM_cert(der)

    def secure(s):
        assert s.peer_certificates() == [] and s.peer_certificates(verified=True) == []
        s.set_level("secure")
        s.set_ca_file(cert)
        s.set_match("server.test")

    srv, cli = run_pair(server_ctx, client_ctx, secure)
    assert "error" not in cli, cli.get("error")
    assert cli["summary"].startswith("Verified TLS connection established to ")
    assert cli["certs_der"] == [der]
    assert [c.replace("\n", "") for c in cli["certs"]] == [pem.replace("\n", "")]
    assert cli["verified"] == [der]  # self-signed: the anchor is the leaf

    # Untrusted at level may: as sent, but no verified chain.
    srv, cli = run_pair(server_ctx, client_ctx)
    assert cli["certs_der"] == [der] and cli["verified"] == []


def test_per_session_policy(cert, server_ctx, client_ctx):
    def tls12(s):
        s.set_protocols("<=TLSv1.2")
        s.set_cipher_grade("high")
        s.set_exclusions("AES128")
        s.set_loglevel("routine,certmatch")

    srv, cli = run_pair(server_ctx, client_ctx, tls12)
    assert cli["info"].protocol == "TLSv1.2" and srv["info"].protocol == "TLSv1.2"
    assert "AES128" not in cli["info"].cipher_name

    def bad(setter, value, exc):
        def setup(s):
            with pytest.raises(exc) as e:
                getattr(s, setter)(value)
            assert value in e.value.message
        return setup

    for setter, value in [("set_cipher_grade", "bogus"), ("set_loglevel", "loud"),
                          ("set_fingerprint_digest", "nodigest")]:
        run_pair(server_ctx, client_ctx, bad(setter, value, mtatls.InvalidValue))
