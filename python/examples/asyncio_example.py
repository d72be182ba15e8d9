#!/usr/bin/env python3
"""asyncio_example.py - a STARTTLS server and client in ONE event loop over
socket.socketpair(), with mtatls.AsyncSession: every handshake, read and
write waits for the socket through the loop (non-blocking calls), never in
a thread.

    pip install ./python          # once; libmtatls must be installed
    python3 python/examples/asyncio_example.py
"""

import asyncio
import os
import socket
import sys
import tempfile

import mtatls

TIMEOUT = 10  # seconds, for every await


async def line(s: mtatls.AsyncSession) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = await s.read(1, timeout=TIMEOUT)
        if not chunk:
            raise ConnectionError("connection closed in TLS")
        data += chunk
    return data


async def server(ctx: mtatls.Context, sock: socket.socket) -> str:
    s = mtatls.AsyncSession.new(ctx, sock, "localhost[127.0.0.1]")
    try:
        await s.handshake(timeout=TIMEOUT)
        assert await line(s) == b"EHLO client.test\r\n"
        await s.write(b"250 server.test\r\n", timeout=TIMEOUT)
        await s.stop(timeout=TIMEOUT)
        return s.summary() + "\n" + s.received_header()
    finally:
        s.close()


async def client(ctx: mtatls.Context, sock: socket.socket) -> str:
    s = mtatls.AsyncSession.new(ctx, sock, "localhost[127.0.0.1]:25")
    try:
        await s.handshake(timeout=TIMEOUT)
        await s.write(b"EHLO client.test\r\n", timeout=TIMEOUT)
        reply = await line(s)
        assert reply.startswith(b"250 "), reply
        return s.summary()
    finally:
        s.close()


async def main() -> int:
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
    a, b = socket.socketpair()
    with a, b:
        srv, cli = await asyncio.gather(server(server_ctx, a), client(client_ctx, b))
    print("server:", srv)
    print("client:", cli)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
