"""mtatls.smtpd: aiosmtpd with STARTTLS by mtatls, against real clients on
loopback: Python's smtplib (STARTTLS with the ssl module, i.e. OpenSSL's
client), mtatls's own client, and a raw socket for the protocol corner
cases; and the `python -m mtatls.smtpd` program.

Skipped without aiosmtpd, a failure under MTATLS_REQUIRE_PYTHON=1. Every
wait is bounded; the program is stopped by its pid.
"""

import asyncio
import email
import logging
import os
import re
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import time

import pytest

import mtatls
from conftest import optional

try:
    from mtatls import smtpd
    MISSING = ""
except ImportError as e:  # aiosmtpd is not installed
    smtpd = None
    MISSING = str(e)


@pytest.fixture(autouse=True)
def need_aiosmtpd():
    """Each test skips without aiosmtpd (fails under MTATLS_REQUIRE_PYTHON=1)."""
    optional("aiosmtpd", smtpd is not None, "not importable: %s" % MISSING)

TIMEOUT = 10
SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")
COMMENT_T13_RSA = [
    "\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)",
    "\t key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256)",
    "\t(No client certificate requested)",
]


@pytest.fixture(scope="module")
def server_ctx(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("smtpd") / "server.pem")
    with mtatls.Params() as p:
        p.set("smtpd_tls_security_level", "may")
        p.set("smtpd_tls_received_header", "yes")
        p.set("smtpd_tls_loglevel", "1")
        p.self_signed("server.test", path)
        ctx = mtatls.Context.server(p)
    yield ctx
    ctx.close()


def client_ssl():
    c = ssl.create_default_context()
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    return c


async def with_server(ctx, client, **smtp_kwargs):
    """Run `client(port)` in a thread while the server runs in this loop;
    returns (client's result, delivered messages)."""
    delivered = []
    handler = smtpd.DeliveryHandler(lambda qid, text, env: delivered.append((qid, text, env)))
    smtp_kwargs.setdefault("hostname", "server.test")
    server = await smtpd.serve(ctx, handler, "127.0.0.1", 0, **smtp_kwargs)
    port = server.sockets[0].getsockname()[1]
    try:
        result = await asyncio.wait_for(asyncio.get_running_loop().run_in_executor(None, client, port),
                                        3 * TIMEOUT)
        # Let the server finish the connection (close_notify, "disconnect from").
        await asyncio.sleep(0.2)
        return result, delivered
    finally:
        server.close()
        await asyncio.wait_for(server.wait_closed(), TIMEOUT)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 6 * TIMEOUT))


def messages(caplog):
    return [r.getMessage() for r in caplog.records if r.name in ("mtatls", "mtatls.smtpd")]


def test_smtplib_starttls_delivers_with_postfix_received_header(server_ctx, caplog):
    caplog.set_level(logging.INFO, logger="mtatls")

    def client(port):
        with smtplib.SMTP("127.0.0.1", port, local_hostname="client.test", timeout=TIMEOUT) as s:
            s.ehlo()
            assert s.has_extn("starttls")
            code, _ = s.starttls(context=client_ssl())
            assert code == 220
            cipher = s.sock.cipher()
            s.ehlo()
            assert not s.has_extn("starttls")  # not offered again over TLS
            assert s.docmd("STARTTLS")[0] == 554
            s.sendmail("sender@client.test", ["rcpt@server.test"],
                       b"Subject: hello over mtatls\r\n\r\nbody line\r\n.dot line\r\n")
            return cipher

    cipher, delivered = run(with_server(server_ctx, client))
    assert cipher[1] == "TLSv1.3"
    assert len(delivered) == 1
    qid, text, env = delivered[0]
    assert env.mail_from == "sender@client.test" and env.rcpt_tos == ["rcpt@server.test"]
    lines = text.split("\n")
    assert lines[0] == "Received: from client.test (localhost [127.0.0.1])"
    assert lines[1:4] == COMMENT_T13_RSA
    assert lines[4] == "\tby server.test (mtatls-aiosmtpd) with ESMTPS id %s" % qid
    assert re.match(r"^\tfor <rcpt@server\.test>; \w{3}, [ \d]\d \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4} \(\w+\)$",
                    lines[5]), lines[5]
    msg = email.message_from_string(text)
    assert msg["Subject"] == "hello over mtatls"
    assert msg.get_payload() == "body line\n.dot line\n"

    log = messages(caplog)
    summary = "Anonymous TLS connection established from localhost[127.0.0.1]: " + (
        "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519"
        " server-signature RSA-PSS (2048 bits) server-digest SHA256")
    assert log.index("connect from localhost[127.0.0.1]") < log.index(summary) \
        < log.index("disconnect from localhost[127.0.0.1]"), log


def test_mtatls_client_and_plaintext_injection(server_ctx, tmp_path):
    """Commands pipelined after STARTTLS in plaintext are discarded (RFC
    3207): the injected MAIL does not count once TLS is up."""
    with mtatls.Params() as p:
        p.set("smtp_tls_security_level", "may")
        client_ctx = mtatls.Context.client(p)

    def line(sock):
        data = b""
        while not data.endswith(b"\n"):
            c = sock.recv(1)
            assert c, "EOF"
            data += c
        return data

    def client(port):
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
            assert line(sock).startswith(b"220 server.test ")
            sock.sendall(b"EHLO client.test\r\n")
            while not line(sock).startswith(b"250 "):
                pass
            sock.sendall(b"STARTTLS\r\nMAIL FROM:<injected@evil.test>\r\n")
            assert line(sock) == b"220 2.0.0 Ready to start TLS\r\n"
            with mtatls.Session(client_ctx, sock, "localhost[127.0.0.1]:%d" % port) as s:
                s.handshake(timeout=TIMEOUT)

                def cmd(text):
                    s.write(text, timeout=TIMEOUT)
                    reply = b""
                    while True:
                        c = s.read(1, timeout=TIMEOUT)
                        assert c, "EOF"
                        reply += c
                        if reply.endswith(b"\r\n") and reply.split(b"\r\n")[-2][3:4] == b" ":
                            return reply.decode()

                ehlo = cmd(b"EHLO client.test\r\n")
                rcpt = cmd(b"RCPT TO:<rcpt@server.test>\r\n")
                quit_ = cmd(b"QUIT\r\n")
                eof = s.read(10, timeout=TIMEOUT)
                summary = s.summary()
                s.stop(timeout=TIMEOUT)
                return ehlo, rcpt, quit_, eof, summary

    (ehlo, rcpt, quit_, eof, summary), delivered = run(with_server(server_ctx, client))
    assert "STARTTLS" not in ehlo and ehlo.startswith("250-server.test")
    assert rcpt.startswith("503 "), rcpt  # no MAIL: the injected one was discarded
    assert quit_.startswith("221 ")
    assert eof == b""  # the server's close_notify
    assert summary.startswith("Untrusted TLS connection established to localhost[127.0.0.1]:")
    assert delivered == []


def test_handshake_failure_is_logged_like_postfix(server_ctx, caplog):
    caplog.set_level(logging.INFO, logger="mtatls")

    def client(port):
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
            f = sock.makefile("rb")
            assert f.readline().startswith(b"220 ")
            sock.sendall(b"EHLO client.test\r\n")
            while not f.readline().startswith(b"250 "):
                pass
            sock.sendall(b"STARTTLS\r\n")
            assert f.readline() == b"220 2.0.0 Ready to start TLS\r\n"
            sock.sendall(b"this is no ClientHello\r\n" * 4)
            try:
                return f.read()  # the server drops the connection ...
            except ConnectionResetError:
                return b""  # ... with a reset: some of our bytes were left unread

    rest, delivered = run(with_server(server_ctx, client))
    assert rest == b"" and delivered == []
    log = messages(caplog)
    assert any(m.startswith("SSL_accept error from localhost[127.0.0.1]: ") for m in log), log
    assert "lost connection after STARTTLS from localhost[127.0.0.1]" in log
    assert log[-1] == "disconnect from localhost[127.0.0.1]", log


def test_require_starttls(server_ctx):
    def client(port):
        with smtplib.SMTP("127.0.0.1", port, local_hostname="client.test", timeout=TIMEOUT) as s:
            s.ehlo()
            refused = s.docmd("MAIL", "FROM:<a@client.test>")
            s.starttls(context=client_ssl())
            s.ehlo()
            accepted = s.docmd("MAIL", "FROM:<a@client.test>")
            return refused[0], accepted[0]

    (refused, accepted), _ = run(with_server(server_ctx, client, require_starttls=True))
    assert (refused, accepted) == (530, 250)


def test_received_header_without_tls_and_for_several_recipients(server_ctx):
    def client(port):
        with smtplib.SMTP("127.0.0.1", port, local_hostname="plain.test", timeout=TIMEOUT) as s:
            s.ehlo()
            s.sendmail("a@plain.test", ["x@server.test", "y@server.test"], b"Subject: plain\r\n\r\nhi\r\n")

    _, delivered = run(with_server(server_ctx, client))
    (qid, text, _), = delivered
    lines = text.split("\n")
    assert lines[0] == "Received: from plain.test (localhost [127.0.0.1])"
    assert lines[1] == "\tby server.test (mtatls-aiosmtpd) with ESMTP id %s;" % qid
    assert lines[2].startswith("\t") and lines[3] == "Subject: plain"


def test_program_serves_and_stops_on_sigterm(tmp_path):
    maildir = tmp_path / "Maildir"
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen(
        [sys.executable, "-m", "mtatls.smtpd", "--maildir", str(maildir), "--hostname", "server.test",
         "-o", "smtpd_tls_loglevel=1", "127.0.0.1:0"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    try:
        first = proc.stderr.readline()  # bounded by the kill in `finally` via the test timeout
        m = re.match(r"^mtatls-aiosmtpd: listening on 127\.0\.0\.1:(\d+)$", first.strip())
        assert m, first
        port = int(m.group(1))
        with smtplib.SMTP("127.0.0.1", port, local_hostname="client.test", timeout=TIMEOUT) as s:
            s.starttls(context=client_ssl())
            s.sendmail("a@client.test", ["b@server.test"], b"Subject: via the program\r\n\r\nhi\r\n")
        deadline = time.monotonic() + TIMEOUT
        files = []
        while not files and time.monotonic() < deadline:
            files = list((maildir / "new").iterdir())
            time.sleep(0.05)
        assert len(files) == 1
        text = files[0].read_text()
        assert text.startswith("Received: from client.test (localhost [127.0.0.1])\n"
                               "\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)\n")
        assert "\nSubject: via the program\n" in text
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=TIMEOUT)
        assert proc.returncode == 0, err
        lines = [first.strip()] + err.splitlines()
        assert "mtatls-aiosmtpd: connect from localhost[127.0.0.1]" in lines
        assert any(l.startswith("mtatls-aiosmtpd: Anonymous TLS connection established from localhost[127.0.0.1]: "
                                "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384") for l in lines), lines
        assert "mtatls-aiosmtpd: disconnect from localhost[127.0.0.1]" in lines
        assert lines[-1] == "mtatls-aiosmtpd: terminating on signal %d" % signal.SIGTERM
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=TIMEOUT)
