#!/usr/bin/env python3
"""example.py - a STARTTLS client and server over socket.socketpair() in two
threads, with the blocking calls of the mtatls package: plain SMTP up to
STARTTLS, both handshakes, one command through TLS, Postfix's summary lines
and the Received: header comment.

    pip install ./python          # once; libmtatls must be installed
    python3 python/examples/example.py
"""

import os
import socket
import sys
import tempfile
import threading

import mtatls

TIMEOUT = 10  # seconds, for every wait


def read_line(sock):
    """One CRLF line of plain SMTP, a byte at a time (no read-ahead into TLS)."""
    line = b""
    while not line.endswith(b"\n"):
        c = sock.recv(1)
        if not c:
            raise ConnectionError("connection closed in plain-text SMTP")
        line += c
    return line.decode()


def tls_line(session):
    line = b""
    while not line.endswith(b"\n"):
        c = session.read(1, timeout=TIMEOUT)
        if not c:
            raise ConnectionError("connection closed in TLS")
        line += c
    return line.decode()


def server(ctx, sock, out):
    sock.sendall(b"220 server.test ESMTP mtatls-python\r\n")
    assert read_line(sock).startswith("EHLO ")
    sock.sendall(b"250-server.test\r\n250 STARTTLS\r\n")
    assert read_line(sock) == "STARTTLS\r\n"
    sock.sendall(b"220 2.0.0 Ready to start TLS\r\n")
    with mtatls.Session(ctx, sock, "localhost[127.0.0.1]") as s:
        s.handshake(timeout=TIMEOUT)
        out["summary"] = s.summary()
        out["received"] = s.received_header()
        assert tls_line(s) == "EHLO client.test\r\n"
        s.write(b"250 server.test\r\n", timeout=TIMEOUT)
        assert tls_line(s) == "QUIT\r\n"
        s.write(b"221 2.0.0 Bye\r\n", timeout=TIMEOUT)
        s.stop(timeout=TIMEOUT)


def client(ctx, sock, out):
    assert read_line(sock).startswith("220 ")
    sock.sendall(b"EHLO client.test\r\n")
    read_line(sock)
    assert read_line(sock) == "250 STARTTLS\r\n"
    sock.sendall(b"STARTTLS\r\n")
    assert read_line(sock).startswith("220 ")
    with mtatls.Session(ctx, sock, "localhost[127.0.0.1]:25") as s:
        s.handshake(timeout=TIMEOUT)
        out["summary"] = s.summary()
        s.write(b"EHLO client.test\r\n", timeout=TIMEOUT)
        tls_line(s)
        s.write(b"QUIT\r\n", timeout=TIMEOUT)
        tls_line(s)
        s.stop(timeout=TIMEOUT)


def run(side, ctx, sock, out):
    try:
        side(ctx, sock, out)
    except Exception as e:  # report, and let the other side see EOF at once
        out["error"] = "%s: %s" % (type(e).__name__, e)
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def main():
    print(mtatls.version(), "from", mtatls.library_path())
    with tempfile.TemporaryDirectory() as tmp:
        with mtatls.Params() as sp:
            sp.set("smtpd_tls_security_level", "may")
            sp.set("smtpd_tls_received_header", "yes")
            sp.self_signed("server.test", os.path.join(tmp, "server.pem"))
            server_ctx = mtatls.Context.server(sp)
        with mtatls.Params() as cp:
            cp.set("smtp_tls_security_level", "may")
            client_ctx = mtatls.Context.client(cp)

    results = {"server": {}, "client": {}}
    a, b = socket.socketpair()
    with a, b, server_ctx, client_ctx:
        threads = [
            threading.Thread(target=run, args=(server, server_ctx, a, results["server"])),
            threading.Thread(target=run, args=(client, client_ctx, b, results["client"])),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(3 * TIMEOUT)
        if any(t.is_alive() for t in threads):
            for s in (a, b):
                s.shutdown(socket.SHUT_RDWR)
            for t in threads:
                t.join(TIMEOUT)

    failed = False
    for side in ("server", "client"):
        r = results[side]
        if "error" in r:
            print("%s failed: %s" % (side, r["error"]), file=sys.stderr)
            failed = True
        if "summary" in r:
            print("%s: %s" % (side, r["summary"]))
    if "received" in results["server"]:
        print("Received: from client.test (localhost [127.0.0.1])")
        print(results["server"]["received"])
        print("\tby server.test (mtatls-python) with ESMTPS")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
