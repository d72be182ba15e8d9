"""asyncio: handshake, read, write and stop driven by the event loop.

Every call goes to the library in non-blocking mode
(``MTATLS_TIMEOUT_NONBLOCK``); on ``WANT_READ`` / ``WANT_WRITE`` the
descriptor is watched with ``loop.add_reader`` / ``loop.add_writer`` and the
call is repeated once it is ready. The loop must support ``add_reader``
(the default selector loop on Unix does; so does uvloop).

Two levels:

- :class:`AsyncSession` wraps a :class:`~mtatls.Session` on a socket of
  the caller's (``await s.handshake()``, ``await s.read()``,
  ``await s.write(data)``, ``await s.stop()``);
- :func:`start_tls` switches an asyncio transport/protocol pair to TLS
  after the plain-text STARTTLS exchange, like ``loop.start_tls`` does with
  an ``ssl.SSLContext``, and returns a :class:`TlsTransport` for the
  protocol to use (this is how :mod:`mtatls.smtpd` runs aiosmtpd).

Timeouts: the methods take ``timeout`` (seconds; None: no limit) and work
under ``asyncio.timeout()`` / ``asyncio.wait_for()``; both raise
``asyncio.TimeoutError`` (the built-in ``TimeoutError`` from Python 3.11).

Cancellation (a timeout is one) of an awaiting call removes the reader or
writer it had added and leaves the session:

- usable after a cancelled :meth:`AsyncSession.handshake` (a later call
  continues the handshake), :meth:`AsyncSession.read` (nothing read is
  lost) or :meth:`AsyncSession.stop`;
- failed for writing after a cancelled :meth:`AsyncSession.write`: part of
  its TLS record may have been sent, so the stream cannot carry other data;
  later writes raise :class:`~mtatls.errors.BadState` (reads and
  :meth:`AsyncSession.stop` still work).
"""

from __future__ import annotations

import asyncio
import os
import socket
from typing import Any, Awaitable, Callable, Dict, Optional, Set, TypeVar

from ._lib import StrLike
from .context import Context
from .errors import BadState, Interrupted, MtatlsError, NotVerified, Result, WantRead, WantWrite
from .session import Session, SessionInfo, SocketLike

__all__ = ["AsyncSession", "TlsTransport", "start_tls"]

T = TypeVar("T")

#: Bytes asked of the library per read.
READ_SIZE = 65536
#: Bytes handed to the library per write.
WRITE_CHUNK = 65536


class AsyncSession:
    """A :class:`~mtatls.Session` driven by the running event loop.

    One read and one write may be pending at a time (a full-duplex
    connection); a second concurrent read (or write) raises
    ``RuntimeError``. The session itself stays available as
    :attr:`session` (facts, summary, Received: comment)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._fd = session.fd
        self._read_waiters: Set["asyncio.Future[None]"] = set()
        self._write_waiters: Set["asyncio.Future[None]"] = set()
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._reading = False
        self._writing = False
        self._write_failed: Optional[str] = None

    @classmethod
    def new(cls, ctx: Context, sock: SocketLike, peer_label: StrLike) -> "AsyncSession":
        """A new session on ``sock`` (see :class:`~mtatls.Session`)."""
        return cls(Session(ctx, sock, peer_label))

    # -- readiness --
    def _ready(self, waiters: Set["asyncio.Future[None]"]) -> None:
        for fut in list(waiters):
            if not fut.done():
                fut.set_result(None)

    async def _wait(self, readable: bool) -> None:
        """Wait until the descriptor is readable (or writable). Several
        waiters of one kind share one reader (writer) callback; the last
        one to leave, also by cancellation, removes it."""
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        waiters = self._read_waiters if readable else self._write_waiters
        fut: "asyncio.Future[None]" = loop.create_future()
        if not waiters:
            if readable:
                loop.add_reader(self._fd, self._ready, waiters)
            else:
                loop.add_writer(self._fd, self._ready, waiters)
        waiters.add(fut)
        try:
            await fut
        finally:
            waiters.discard(fut)
            if not waiters:
                if readable:
                    loop.remove_reader(self._fd)
                else:
                    loop.remove_writer(self._fd)

    async def _drive(self, call: Callable[[], T]) -> T:
        """Repeat a non-blocking call until it does not want to wait."""
        while True:
            try:
                return call()
            except WantRead:
                await self._wait(True)
            except WantWrite:
                await self._wait(False)
            except Interrupted:
                await asyncio.sleep(0)

    @staticmethod
    async def _bounded(aw: Awaitable[T], timeout: Optional[float]) -> T:
        if timeout is None:
            return await aw
        return await asyncio.wait_for(aw, timeout)

    # -- the calls --
    async def handshake(self, timeout: Optional[float] = None) -> None:
        """Run the TLS handshake. Raises what
        :meth:`mtatls.Session.handshake` raises (:class:`~mtatls.errors.NotVerified`:
        completed, peer not authenticated), or ``asyncio.TimeoutError``."""
        await self._bounded(self._drive(lambda: self.session.handshake(0)), timeout)

    async def read(self, n: int = READ_SIZE, timeout: Optional[float] = None) -> bytes:
        """Up to ``n`` decrypted bytes, waiting for at least one; ``b""``
        when the peer closed the connection."""
        if self._reading:
            raise RuntimeError("another read is already waiting on this session")
        self._reading = True
        try:
            return await self._bounded(self._drive(lambda: self.session.read(n, 0)), timeout)
        finally:
            self._reading = False

    async def write(self, data: bytes, timeout: Optional[float] = None) -> int:
        """Write all of ``data``; returns its length. Cancelled half-way,
        the session is failed for writing (see the module doc)."""
        if self._write_failed is not None:
            raise BadState(self._write_failed, Result.BAD_STATE)
        if self._writing:
            raise RuntimeError("another write is already waiting on this session")
        raw = bytes(data)
        started = False

        def attempt() -> int:
            nonlocal started
            try:
                return self.session.write(raw, 0)
            except (WantRead, WantWrite):
                started = True
                raise

        self._writing = True
        try:
            return await self._bounded(self._drive(attempt), timeout)
        except asyncio.CancelledError:
            if started:
                self._write_failed = (
                    "write: an earlier write to %s was cancelled before it completed; "
                    "the TLS stream cannot carry more data" % self.session.peer_label
                )
            raise
        except asyncio.TimeoutError:
            if started:
                self._write_failed = (
                    "write: an earlier write to %s timed out before it completed; "
                    "the TLS stream cannot carry more data" % self.session.peer_label
                )
            raise
        finally:
            self._writing = False

    async def stop(self, timeout: Optional[float] = None) -> None:
        """Send close_notify and restore the socket's flags (the socket
        stays open)."""
        await self._bounded(self._drive(lambda: self.session.stop(0)), timeout)

    def close(self) -> None:
        """Free the session (no close_notify). Pending calls should have
        been cancelled first."""
        self.session.close()

    # -- results --
    @property
    def write_failed(self) -> bool:
        """Whether a cancelled write left the stream unusable for writing."""
        return self._write_failed is not None

    @property
    def info(self) -> Optional[SessionInfo]:
        """See :attr:`mtatls.Session.info`."""
        return self.session.info

    def summary(self) -> str:
        """See :meth:`mtatls.Session.summary`."""
        return self.session.summary()

    def received_header(self) -> str:
        """See :meth:`mtatls.Session.received_header`."""
        return self.session.received_header()

    @property
    def truncated(self) -> bool:
        """See :attr:`mtatls.Session.truncated`."""
        return self.session.truncated


def _current_task() -> "Optional[asyncio.Task[Any]]":
    try:
        return asyncio.current_task()
    except RuntimeError:
        return None


class _Detached(asyncio.Protocol):
    """The protocol of a plain transport whose socket TLS has taken over:
    it hears nothing the application should (the transport is paused)."""


class TlsTransport(asyncio.Transport):
    """An asyncio transport whose bytes go through an mtatls session on
    the socket of a (paused) plain transport. Made by :func:`start_tls`.

    ``get_extra_info`` knows the plain transport's keys (``peername``,
    ``sockname``, ``socket``) and ``mtatls_session`` (the
    :class:`~mtatls.Session`), ``mtatls_info`` (:class:`~mtatls.SessionInfo`),
    ``mtatls_summary`` (Postfix's summary line), ``mtatls_received_comment``
    (the Received: header TLS comment), ``mtatls_verified`` (False after
    NOT_VERIFIED).

    ``close()`` sends what is buffered, then close_notify (waiting at most
    ``stop_timeout`` seconds), frees the session and closes the socket;
    ``abort()`` does the last two at once. The protocol's
    ``connection_lost`` is called once, at the end of either."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        asession: AsyncSession,
        raw: asyncio.Transport,
        fd: int,
        protocol: asyncio.BaseProtocol,
        verified: bool = True,
        stop_timeout: float = 30.0,
    ) -> None:
        session = asession.session
        extra: Dict[str, Any] = {
            "peername": raw.get_extra_info("peername"),
            "sockname": raw.get_extra_info("sockname"),
            "socket": raw.get_extra_info("socket"),
            "mtatls_session": session,
            "mtatls_info": session.info,
            "mtatls_summary": session.summary(),
            "mtatls_received_comment": session.received_header(),
            "mtatls_verified": verified,
        }
        super().__init__(extra)
        self._loop = loop
        self._asession = asession
        self._raw = raw
        self._fd = fd
        self._protocol = protocol
        self._stop_timeout = stop_timeout
        self._buffer = bytearray()
        self._high = 64 * 1024
        self._low = 16 * 1024
        self._write_paused = False
        self._closing = False
        self._finished = False
        self._read_allowed = asyncio.Event()
        self._read_allowed.set()
        self._reader: Optional["asyncio.Task[None]"] = loop.create_task(self._read_loop())
        self._writer: Optional["asyncio.Task[None]"] = None

    # -- asyncio.BaseTransport --
    def is_closing(self) -> bool:
        return self._closing or self._finished

    def close(self) -> None:
        if self._closing or self._finished:
            return
        self._closing = True
        if self._reader is not None and self._reader is not _current_task():
            self._reader.cancel()
        if self._writer is None:
            self._writer = self._loop.create_task(self._write_loop())

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._protocol = protocol

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._protocol

    # -- asyncio.ReadTransport --
    def is_reading(self) -> bool:
        return self._read_allowed.is_set() and not self.is_closing()

    def pause_reading(self) -> None:
        self._read_allowed.clear()

    def resume_reading(self) -> None:
        self._read_allowed.set()

    # -- asyncio.WriteTransport --
    def set_write_buffer_limits(self, high: Optional[int] = None, low: Optional[int] = None) -> None:
        if high is None:
            high = 64 * 1024 if low is None else 4 * low
        if low is None:
            low = high // 4
        if not high >= low >= 0:
            raise ValueError("high (%r) must be >= low (%r) must be >= 0" % (high, low))
        self._high, self._low = high, low

    def get_write_buffer_limits(self) -> "tuple[int, int]":
        return (self._low, self._high)

    def get_write_buffer_size(self) -> int:
        return len(self._buffer)

    def write(self, data: Any) -> None:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError("data must be bytes-like, not %s" % type(data).__name__)
        if self._closing or self._finished:
            return
        if not data:
            return
        self._buffer.extend(data)
        if self._writer is None:
            self._writer = self._loop.create_task(self._write_loop())
        if not self._write_paused and len(self._buffer) > self._high:
            self._write_paused = True
            pause = getattr(self._protocol, "pause_writing", None)
            if pause is not None:
                pause()

    def write_eof(self) -> None:
        raise NotImplementedError("TLS has no half-close; use close()")

    def can_write_eof(self) -> bool:
        return False

    def abort(self) -> None:
        self._closing = True
        for task in (self._reader, self._writer):
            if task is not None and task is not _current_task():
                task.cancel()
        self._finish(None)

    # -- the work --
    async def _read_loop(self) -> None:
        try:
            while True:
                await self._read_allowed.wait()
                data = await self._asession.read(READ_SIZE)
                if not data:
                    keep_open = False
                    eof = getattr(self._protocol, "eof_received", None)
                    if eof is not None:
                        keep_open = bool(eof())
                    if not keep_open:
                        self.close()
                    return
                receive = getattr(self._protocol, "data_received", None)
                if receive is not None:
                    receive(data)
        except asyncio.CancelledError:
            raise
        except (MtatlsError, OSError) as e:
            self._fatal(e)

    async def _write_loop(self) -> None:
        try:
            while self._buffer:
                chunk = bytes(self._buffer[:WRITE_CHUNK])
                await self._asession.write(chunk)
                del self._buffer[: len(chunk)]
                if self._write_paused and len(self._buffer) <= self._low:
                    self._write_paused = False
                    resume = getattr(self._protocol, "resume_writing", None)
                    if resume is not None:
                        resume()
            self._writer = None
            if self._closing and not self._finished:
                try:
                    await self._asession.stop(self._stop_timeout)
                except (MtatlsError, OSError, asyncio.TimeoutError):
                    pass  # a peer that is gone or slow does not make close fail
                self._finish(None)
        except asyncio.CancelledError:
            raise
        except (MtatlsError, OSError) as e:
            self._fatal(e)

    def _fatal(self, exc: BaseException) -> None:
        self._closing = True
        for task in (self._reader, self._writer):
            if task is not None and task is not _current_task():
                task.cancel()
        self._finish(exc if isinstance(exc, Exception) else None)

    def _finish(self, exc: Optional[Exception]) -> None:
        if self._finished:
            return
        self._finished = True
        self._buffer.clear()
        self._asession.close()
        try:
            os.close(self._fd)
        except OSError:
            pass
        self._raw.close()
        lost = getattr(self._protocol, "connection_lost", None)
        if lost is not None:
            self._loop.call_soon(lost, exc)


async def _flushed(transport: asyncio.WriteTransport, timeout: Optional[float]) -> None:
    """Wait until a plain transport has sent what it buffered (the 220
    reply before the handshake), polling briefly."""
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    while transport.get_write_buffer_size() > 0:
        if transport.is_closing():
            raise ConnectionError("the connection closed before TLS started")
        if deadline is not None and loop.time() > deadline:
            raise asyncio.TimeoutError()
        await asyncio.sleep(0.005)


async def start_tls(
    transport: asyncio.BaseTransport,
    protocol: asyncio.BaseProtocol,
    ctx: Context,
    peer_label: StrLike,
    *,
    handshake_timeout: Optional[float] = None,
    stop_timeout: float = 30.0,
    setup: Optional[Callable[[Session], None]] = None,
) -> TlsTransport:
    """Run a TLS handshake on the socket of ``transport`` (a plain socket
    transport of the running loop) and return a :class:`TlsTransport`
    that feeds ``protocol`` from then on; like ``loop.start_tls``, the
    protocol's ``connection_made`` is not called again.

    Pause the plain transport (``transport.pause_reading()``) *before*
    sending the reply that lets the peer start TLS (``220 2.0.0 Ready to
    start TLS``), so that the peer's first TLS record stays in the socket
    for the library; plaintext the transport read before is the
    application's to discard (RFC 3207). ``setup(session)`` runs before the
    handshake (client settings such as ``set_level``).

    Raises what the handshake raises, or ``asyncio.TimeoutError``; then
    the plain transport is left as it was, for the caller to close.
    :class:`~mtatls.errors.NotVerified` carries the TLS transport as its
    ``transport`` attribute (the session can still carry QUIT or a 421)."""
    loop = asyncio.get_running_loop()
    if not isinstance(transport, asyncio.Transport):
        raise TypeError("start_tls needs a socket transport")
    raw: asyncio.Transport = transport
    raw.pause_reading()
    sock = raw.get_extra_info("socket")
    if sock is None:
        raise TypeError("the transport has no socket")
    await _flushed(raw, handshake_timeout)
    fd = os.dup(sock.fileno())
    try:
        session = Session(ctx, fd, peer_label)
    except BaseException:
        os.close(fd)
        raise
    asession = AsyncSession(session)
    verified = True
    failure: Optional[NotVerified] = None
    try:
        if setup is not None:
            setup(session)
        await asession.handshake(handshake_timeout)
    except NotVerified as e:
        verified = False
        failure = e
    except BaseException:
        session.close()
        os.close(fd)
        raise
    raw.set_protocol(_Detached())
    tls = TlsTransport(loop, asession, raw, fd, protocol, verified=verified, stop_timeout=stop_timeout)
    if failure is not None:
        setattr(failure, "transport", tls)
        raise failure
    return tls


def socket_of(transport: asyncio.BaseTransport) -> Optional[socket.socket]:
    """The socket object of a transport, if it has one."""
    sock: Optional[socket.socket] = transport.get_extra_info("socket")
    return sock
