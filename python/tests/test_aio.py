"""asyncio: both ends of a socketpair in ONE event loop, every call
non-blocking and driven by add_reader/add_writer; cancellation and timeouts.

Every await is bounded (asyncio.wait_for / asyncio.timeout with TIMEOUT).
`loop.remove_reader(fd)` returning False proves that a cancelled call took
its reader away.
"""

import asyncio
import hashlib
import os
import socket
import sys

import pytest

import mtatls

TIMEOUT = 10
SERVER_LABEL = "localhost[127.0.0.1]"
CLIENT_LABEL = "localhost[127.0.0.1]:25"
T13 = ("TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519"
       " server-signature RSA-PSS (2048 bits) server-digest SHA256")


@pytest.fixture(scope="module")
def contexts(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("aio") / "server.pem")
    with mtatls.Params() as p:
        p.set("smtpd_tls_security_level", "may")
        p.set("smtpd_tls_received_header", "yes")
        p.self_signed("server.test", path)
        server = mtatls.Context.server(p)
    with mtatls.Params() as p:
        p.set("smtp_tls_security_level", "may")
        client = mtatls.Context.client(p)
    yield server, client
    server.close()
    client.close()


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 4 * TIMEOUT))


class Pair:
    """A socketpair with a server and a client AsyncSession on it."""

    def __init__(self, contexts):
        self.a, self.b = socket.socketpair()
        self.server = mtatls.AsyncSession.new(contexts[0], self.a, SERVER_LABEL)
        self.client = mtatls.AsyncSession.new(contexts[1], self.b, CLIENT_LABEL)

    async def handshake(self):
        await asyncio.gather(self.server.handshake(TIMEOUT), self.client.handshake(TIMEOUT))

    def close(self):
        self.server.close()
        self.client.close()
        self.a.close()
        self.b.close()


def no_watchers(fd):
    """Neither a reader nor a writer is registered for fd (removing one
    that is not there returns False)."""
    loop = asyncio.get_running_loop()
    return not loop.remove_reader(fd) and not loop.remove_writer(fd)


async def read_exactly(s, n):
    data = bytearray()
    while len(data) < n:
        chunk = await s.read(min(65536, n - len(data)), timeout=TIMEOUT)
        assert chunk, "EOF after %d of %d bytes" % (len(data), n)
        data += chunk
    return bytes(data)


def test_handshake_io_and_stop_in_one_loop(contexts):
    async def main():
        p = Pair(contexts)
        try:
            await p.handshake()
            assert p.server.summary() == "Anonymous TLS connection established from %s: %s" % (SERVER_LABEL, T13)
            assert p.client.summary() == "Untrusted TLS connection established to %s: %s" % (CLIENT_LABEL, T13)
            assert p.server.received_header().startswith("\t(using TLSv1.3 with cipher")
            assert p.client.info.trust is mtatls.Trust.UNTRUSTED and p.server.info.am_server
            await p.client.write(b"EHLO client.test\r\n", timeout=TIMEOUT)
            assert await read_exactly(p.server, 18) == b"EHLO client.test\r\n"
            await p.server.write(b"250 server.test\r\n", timeout=TIMEOUT)
            assert await read_exactly(p.client, 17) == b"250 server.test\r\n"
            await p.server.stop(timeout=TIMEOUT)
            assert await p.client.read(timeout=TIMEOUT) == b""  # close_notify
            assert p.client.truncated is False
            await p.client.stop(timeout=TIMEOUT)
            assert no_watchers(p.a.fileno()) and no_watchers(p.b.fileno())
        finally:
            p.close()
    run(main())


def test_megabytes_both_ways_at_once(contexts):
    """More than the socket buffers hold, in both directions at the same
    time: WANT_WRITE and WANT_READ on both sides, one loop."""
    size = 4 * 1024 * 1024
    up, down = os.urandom(size), os.urandom(size)

    async def main():
        p = Pair(contexts)
        try:
            await p.handshake()
            results = await asyncio.gather(
                p.client.write(up, timeout=TIMEOUT), p.server.write(down, timeout=TIMEOUT),
                read_exactly(p.server, size), read_exactly(p.client, size))
            assert results[:2] == [size, size]
            assert hashlib.sha256(results[2]).digest() == hashlib.sha256(up).digest()
            assert hashlib.sha256(results[3]).digest() == hashlib.sha256(down).digest()
            assert no_watchers(p.a.fileno()) and no_watchers(p.b.fileno())
        finally:
            p.close()
    run(main())


def test_cancelled_handshake_removes_its_reader_and_resumes(contexts):
    async def main():
        p = Pair(contexts)
        try:
            task = asyncio.ensure_future(p.client.handshake())
            await asyncio.sleep(0.1)  # the ClientHello is out, nobody answers
            assert not task.done()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert no_watchers(p.b.fileno())
            await p.handshake()  # the same sessions finish the handshake
            assert p.client.summary().startswith("Untrusted TLS connection established to ")
        finally:
            p.close()
    run(main())


@pytest.mark.skipif(sys.version_info < (3, 11), reason="asyncio.timeout is new in Python 3.11")
def test_asyncio_timeout_on_handshake(contexts):
    async def main():
        p = Pair(contexts)
        try:
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.3):
                    await p.client.handshake()
            assert 0.25 < loop.time() - t0 < 3
            assert no_watchers(p.b.fileno())
            await p.handshake()
            assert p.server.info.protocol == "TLSv1.3"
        finally:
            p.close()
    run(main())


def test_wait_for_and_timeout_argument(contexts):
    async def main():
        p = Pair(contexts)
        try:
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(p.server.handshake(), 0.2)
            assert no_watchers(p.a.fileno())
            await p.handshake()
            with pytest.raises(asyncio.TimeoutError):
                await p.client.read(timeout=0.2)  # nothing sent
            assert no_watchers(p.b.fileno())
            await p.server.write(b"after the timeout\r\n", timeout=TIMEOUT)
            assert await read_exactly(p.client, 19) == b"after the timeout\r\n"
        finally:
            p.close()
    run(main())


def test_cancelled_read_loses_nothing(contexts):
    async def main():
        p = Pair(contexts)
        try:
            await p.handshake()
            task = asyncio.ensure_future(p.client.read())
            await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert no_watchers(p.b.fileno())
            await p.server.write(b"250 still here\r\n", timeout=TIMEOUT)
            assert await read_exactly(p.client, 16) == b"250 still here\r\n"
        finally:
            p.close()
    run(main())


def test_cancelled_write_fails_the_session_for_writing(contexts):
    async def main():
        p = Pair(contexts)
        try:
            await p.handshake()
            # The server does not read: the socket buffers fill up.
            with pytest.raises(asyncio.TimeoutError):
                await p.client.write(os.urandom(16 * 1024 * 1024), timeout=0.5)
            assert no_watchers(p.b.fileno())
            assert p.client.write_failed
            with pytest.raises(mtatls.BadState) as e:
                await p.client.write(b"QUIT\r\n", timeout=TIMEOUT)
            assert e.value.code == 4 and "timed out before it completed" in str(e.value)
            assert "cannot carry more data" in str(e.value)
            # Reading still works.
            await p.server.write(b"421 bye\r\n", timeout=TIMEOUT)
            assert await read_exactly(p.client, 9) == b"421 bye\r\n"
        finally:
            p.close()
    run(main())


def test_cancelled_write_by_task_cancel(contexts):
    async def main():
        p = Pair(contexts)
        try:
            await p.handshake()
            task = asyncio.ensure_future(p.client.write(os.urandom(16 * 1024 * 1024)))
            await asyncio.sleep(0.2)
            assert not task.done()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert no_watchers(p.b.fileno())
            with pytest.raises(mtatls.BadState, match="was cancelled before it completed"):
                await p.client.write(b"x")
        finally:
            p.close()
    run(main())


def test_handshake_failure_and_truncation(contexts):
    async def main():
        a, b = socket.socketpair()
        try:
            client = mtatls.AsyncSession.new(contexts[1], b, CLIENT_LABEL)
            a.sendall(b"220 this is not TLS at all\r\n" * 10)
            with pytest.raises(mtatls.HandshakeError) as e:
                await client.handshake(TIMEOUT)
            assert e.value.code == 300 and CLIENT_LABEL in str(e.value)
            assert no_watchers(b.fileno())
            client.close()
        finally:
            a.close()
            b.close()

        p = Pair(contexts)
        try:
            await p.handshake()
            p.server.close()
            p.a.close()  # gone without close_notify
            assert await p.client.read(timeout=TIMEOUT) == b""
            assert p.client.truncated is True
        finally:
            p.client.close()
            p.b.close()
    run(main())


def test_one_read_and_one_write_at_a_time(contexts):
    async def main():
        p = Pair(contexts)
        try:
            await p.handshake()
            first = asyncio.ensure_future(p.client.read())
            await asyncio.sleep(0.05)
            with pytest.raises(RuntimeError, match="another read"):
                await p.client.read()
            await p.server.write(b"x", timeout=TIMEOUT)
            assert await asyncio.wait_for(first, TIMEOUT) == b"x"
        finally:
            p.close()
    run(main())


def test_start_tls_switches_a_protocol(contexts):
    """start_tls on a loop.create_server transport: a line protocol sees
    plain text, then (after its STARTTLS) decrypted text, replies through
    the TLS transport and closes it with close_notify."""
    async def main():
        loop = asyncio.get_running_loop()
        seen = []
        done = loop.create_future()

        class Line(asyncio.Protocol):
            def connection_made(self, transport):
                self.transport = transport

            def data_received(self, data):
                seen.append(data)
                if data == b"STARTTLS\r\n":
                    self.transport.pause_reading()
                    self.transport.write(b"220 go ahead\r\n")
                    loop.create_task(self.switch())
                elif data == b"QUIT\r\n":
                    self.transport.write(b"221 bye\r\n")
                    self.transport.close()

            async def switch(self):
                self.transport = await mtatls.start_tls(self.transport, self, contexts[0], SERVER_LABEL,
                                                        handshake_timeout=TIMEOUT)
                assert self.transport.get_extra_info("mtatls_summary").startswith("Anonymous TLS")
                assert isinstance(self.transport.get_extra_info("mtatls_session"), mtatls.Session)
                assert self.transport.get_extra_info("peername") is not None

            def connection_lost(self, exc):
                done.set_result(exc)

        server = await loop.create_server(Line, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
            sock.setblocking(False)
            with sock:
                await loop.sock_sendall(sock, b"STARTTLS\r\n")
                reply = b""
                while not reply.endswith(b"\n"):
                    reply += await asyncio.wait_for(loop.sock_recv(sock, 1), TIMEOUT)
                assert reply == b"220 go ahead\r\n"
                client = mtatls.AsyncSession.new(contexts[1], sock, "localhost[127.0.0.1]:%d" % port)
                await client.handshake(TIMEOUT)
                await client.write(b"QUIT\r\n", timeout=TIMEOUT)
                assert await read_exactly(client, 9) == b"221 bye\r\n"
                assert await client.read(timeout=TIMEOUT) == b""  # close_notify
                assert client.truncated is False
                client.close()
            assert await asyncio.wait_for(done, TIMEOUT) is None
            assert seen == [b"STARTTLS\r\n", b"QUIT\r\n"]
        finally:
            server.close()
    run(main())
