"""An aiosmtpd SMTP server whose STARTTLS is done by mtatls.

Needs aiosmtpd (``pip install 'mtatls[aiosmtpd]'``); the rest of the
package does not.

:class:`SMTP` subclasses ``aiosmtpd.smtp.SMTP`` and replaces only its
``smtp_STARTTLS``: the plain transport is paused before the ``220 2.0.0
Ready to start TLS`` reply, :func:`mtatls.aio.start_tls` runs the handshake
on the connection's socket, and the protocol is switched to the returned
transport the way aiosmtpd switches to its own ``ssl`` transport (its
``connection_made`` re-entry: state reset as RFC 3207 says, plaintext
received before discarded, ``handle_STARTTLS`` hook called). From then on
``session.ssl`` is the TLS transport's extra info: ``mtatls_info``,
``mtatls_summary``, ``mtatls_received_comment``, ...

Like Postfix's smtpd it names the client by forward-confirmed reverse
lookup (``localhost[127.0.0.1]``, else ``unknown[ADDR]``), logs ``connect
from``/``disconnect from`` lines to the ``"mtatls.smtpd"`` logger (the
library's TLS lines go to ``"mtatls"``), and :meth:`SMTP.received_header`
writes the ``Received:`` header Postfix's smtpd writes, TLS comment included.
:class:`DeliveryHandler` adds it to each message and hands the result on.

``python -m mtatls.smtpd [-c main.cf] [-o name=value]... [--maildir DIR]
[addr:]port`` runs one (see :func:`main`).

aiosmtpd has no public hook for another TLS implementation, so this
relies on the attributes its own STARTTLS uses (``transport``,
``_original_transport``, ``_tls_protocol``, ``_reader``/``_writer`` through
``connection_made``); it is tested with aiosmtpd 1.4.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import os
import signal
import socket
import sys
import tempfile
import time
from typing import Any, Callable, List, Optional, Sequence, Tuple

from aiosmtpd.smtp import SMTP as _AioSMTP
from aiosmtpd.smtp import Envelope
from aiosmtpd.smtp import Session as SmtpSession
from aiosmtpd.smtp import syntax

from . import aio
from .context import Context
from .errors import MtatlsError, NotVerified
from .params import Params

__all__ = ["SMTP", "DeliveryHandler", "client_name", "mail_date", "serve", "main"]

log = logging.getLogger("mtatls.smtpd")

#: The command after a failed client verification is awaited this long.
ABORT_READ_TIMEOUT = 30.0


async def client_name(addr: str) -> str:
    """The client's name as Postfix's smtpd finds it: the reverse lookup
    of ``addr`` if a forward lookup of that name gives ``addr`` back, else
    ``"unknown"``."""
    loop = asyncio.get_running_loop()
    try:
        name, _ = await loop.getnameinfo((addr, 0), socket.NI_NAMEREQD)
        infos = await loop.getaddrinfo(name, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return "unknown"
    if any(info[4][0] == addr for info in infos):
        return str(name)
    return "unknown"


def mail_date(now: Optional[float] = None) -> str:
    """An RFC 5322 date as Postfix writes it: ``Sat,  1 Nov 2026 23:20:01
    +0000 (UTC)``."""
    return time.strftime("%a, %e %b %Y %H:%M:%S %z (%Z)", time.localtime(now))


class SMTP(_AioSMTP):
    """aiosmtpd's SMTP protocol with STARTTLS by mtatls.

    ``mtatls_context``: a server :class:`~mtatls.Context` (None: no
    STARTTLS). ``require_starttls``: refuse mail commands before TLS.
    ``starttls_timeout``: seconds for the handshake (Postfix's
    ``smtpd_starttls_timeout``); ``stop_timeout``: for close_notify.
    Other keyword arguments go to ``aiosmtpd.smtp.SMTP`` (``hostname``,
    ``ident``, ``timeout``, ...); its ``tls_context`` is not used."""

    def __init__(
        self,
        handler: Any,
        *,
        mtatls_context: Optional[Context],
        require_starttls: bool = False,
        starttls_timeout: float = 300.0,
        stop_timeout: float = 30.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(handler, tls_context=None, require_starttls=False, **kwargs)
        # aiosmtpd tests tls_context only for truth (EHLO's STARTTLS, HELP).
        self.tls_context = mtatls_context  # type: ignore[assignment]
        self.require_starttls = bool(mtatls_context) and require_starttls
        self.mtatls_context = mtatls_context
        self.starttls_timeout = starttls_timeout
        self.stop_timeout = stop_timeout
        self.client_addr = "unknown"
        self.client_name = "unknown"
        self.peer_label = "unknown[unknown]"
        self.last_command = "CONNECT"
        self._named: Optional["asyncio.Task[None]"] = None
        self._disconnected = False

    # -- connection --
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        plain = self.transport is None
        super().connection_made(transport)
        if plain:
            peer = transport.get_extra_info("peername")
            if isinstance(peer, tuple) and peer:
                self.client_addr = str(peer[0])
            self.peer_label = "%s[%s]" % (self.client_name, self.client_addr)
            self._named = self.loop.create_task(self._name_client())

    async def _name_client(self) -> None:
        if self.client_addr != "unknown":
            self.client_name = await client_name(self.client_addr)
        self.peer_label = "%s[%s]" % (self.client_name, self.client_addr)
        log.info("connect from %s", self.peer_label)

    async def _client_named(self) -> None:
        if self._named is not None:
            await self._named

    def connection_lost(self, error: Optional[Exception]) -> None:
        super().connection_lost(error)
        if not self._disconnected:
            self._disconnected = True
            if self._named is not None and not self._named.done():
                self._named.cancel()
            log.info("disconnect from %s", self.peer_label)

    # -- STARTTLS --
    @property
    def tls_active(self) -> bool:
        """Whether the connection runs over TLS."""
        return self._tls_protocol is not None

    @syntax("STARTTLS", when="tls_context")
    async def smtp_STARTTLS(self, arg: str) -> None:
        """STARTTLS: ``220 2.0.0 Ready to start TLS``, the handshake by
        mtatls (``smtpd_starttls_timeout`` is ``starttls_timeout``), then
        the session goes on through TLS; after a failed handshake the
        connection is dropped (``lost connection after STARTTLS``), after
        a failed client verification the next command gets ``421``."""
        self.last_command = "STARTTLS"
        if arg:
            await self.push("501 5.5.4 Syntax: STARTTLS")
            return
        if self._tls_protocol is not None:
            await self.push("554 5.5.1 Error: TLS already active")
            return
        ctx = self.mtatls_context
        if ctx is None:
            await self.push("502 5.5.1 Error: command not implemented")
            return
        raw = self.transport
        assert isinstance(raw, asyncio.Transport)
        await self._client_named()
        # Paused before the reply: the client's first TLS record stays in
        # the socket for the library.
        raw.pause_reading()
        await self.push("220 2.0.0 Ready to start TLS")
        unverified: Optional[NotVerified] = None
        try:
            tls = await aio.start_tls(
                raw,
                self,
                ctx,
                self.peer_label,
                handshake_timeout=self.starttls_timeout,
                stop_timeout=self.stop_timeout,
            )
        except NotVerified as e:
            unverified = e
            tls = getattr(e, "transport")
        except asyncio.TimeoutError:
            log.info("timeout after STARTTLS from %s", self.peer_label)
            raw.close()
            return
        except (MtatlsError, OSError):
            # The library logged Postfix's "SSL_accept error from ..." lines.
            log.info("lost connection after STARTTLS from %s", self.peer_label)
            raw.close()
            return
        # As aiosmtpd's own STARTTLS: the protocol now talks through the TLS
        # transport; connection_made() resets the session (RFC 3207),
        # discards plaintext read before, and runs handle_STARTTLS.
        self._original_transport = raw
        self._tls_protocol = tls  # type: ignore[assignment]
        self.connection_made(tls)
        if unverified is not None:
            await self._abort_unverified(unverified, tls)

    async def _abort_unverified(self, error: NotVerified, tls: aio.TlsTransport) -> None:
        """As Postfix's smtpd: log, answer the next command with 421, drop."""
        text = error.message
        prefix = "TLS from %s: " % self.peer_label
        reason = text[len(prefix) :] if text.lower().startswith(prefix.lower()) else text
        log.info("NOQUEUE: abort: %s", text)
        try:
            await asyncio.wait_for(self._reader.readline(), ABORT_READ_TIMEOUT)
            await self.push("421 4.7.1 %s Error: %s" % (self.hostname, reason))
        except (asyncio.TimeoutError, ConnectionError, asyncio.IncompleteReadError):
            pass
        tls.close()

    # -- the Received: header --
    def received_header(self, envelope: Envelope, queue_id: str, now: Optional[float] = None) -> str:
        """The ``Received:`` header Postfix's smtpd writes for this
        connection and message (lines joined by ``"\\n"``, no final
        newline): ``from HELO (NAME [ADDR])``, the TLS comment when
        ``smtpd_tls_received_header = yes``, ``by HOSTNAME (IDENT) with
        ESMTPS id QUEUE_ID``, the recipient when there is one, the date."""
        session: Optional[SmtpSession] = self.session
        assert session is not None
        helo = session.host_name or ""
        addr = self.client_addr
        if ":" in addr:
            addr = "IPv6:" + addr
        lines = ["Received: from %s (%s [%s])" % (helo, self.client_name, addr)]
        ssl = session.ssl
        if (
            isinstance(ssl, dict)
            and self.mtatls_context is not None
            and self.mtatls_context.received_header
            and ssl.get("mtatls_received_comment")
        ):
            lines.append(str(ssl["mtatls_received_comment"]))
        proto = "ESMTP" if session.extended_smtp else "SMTP"
        if self.tls_active:
            proto += "S"
        if session.authenticated:
            proto += "A"
        ident = getattr(self, "received_ident", "mtatls-aiosmtpd")
        rcpts = envelope.rcpt_tos
        if len(rcpts) == 1:
            lines.append("\tby %s (%s) with %s id %s" % (self.hostname, ident, proto, queue_id))
            lines.append("\tfor <%s>; %s" % (rcpts[0], mail_date(now)))
        else:
            lines.append("\tby %s (%s) with %s id %s;" % (self.hostname, ident, proto, queue_id))
            lines.append("\t%s" % mail_date(now))
        return "\n".join(lines)


Deliver = Callable[[str, str, Envelope], None]


class DeliveryHandler:
    """An aiosmtpd handler that accepts every message, puts the server's
    ``Received:`` header in front of it (line ends ``\\n``) and passes it
    to ``deliver(queue_id, text, envelope)``; replies ``250 2.0.0 Ok:
    queued as QUEUE_ID``."""

    def __init__(self, deliver: Deliver) -> None:
        self.deliver = deliver
        self._ids = itertools.count(1)

    async def handle_DATA(self, server: SMTP, session: SmtpSession, envelope: Envelope) -> str:
        queue_id = "%X%05d" % (os.getpid(), next(self._ids))
        content = envelope.original_content or b""
        body = content.replace(b"\r\n", b"\n").decode("utf-8", "surrogateescape")
        text = server.received_header(envelope, queue_id) + "\n" + body
        self.deliver(queue_id, text, envelope)
        return "250 2.0.0 Ok: queued as %s" % queue_id


def maildir_writer(directory: str) -> Deliver:
    """A ``deliver`` function writing each message to a file of
    ``DIRECTORY/new`` (through ``DIRECTORY/tmp``, as a Maildir)."""
    for sub in ("tmp", "new", "cur"):
        os.makedirs(os.path.join(directory, sub), exist_ok=True)

    def deliver(queue_id: str, text: str, envelope: Envelope) -> None:
        name = "%d.%s.%s" % (int(time.time()), queue_id, socket.gethostname())
        tmp = os.path.join(directory, "tmp", name)
        with open(tmp, "w", encoding="utf-8", errors="surrogateescape") as f:
            f.write(text)
        os.rename(tmp, os.path.join(directory, "new", name))

    return deliver


def stdout_writer(queue_id: str, text: str, envelope: Envelope) -> None:
    """A ``deliver`` function writing each message to stdout, then an
    empty line."""
    sys.stdout.write(text)
    if not text.endswith("\n"):
        sys.stdout.write("\n")
    sys.stdout.write("\n")
    sys.stdout.flush()


async def serve(
    ctx: Optional[Context],
    handler: Any,
    host: str = "127.0.0.1",
    port: int = 0,
    **smtp_kwargs: Any,
) -> asyncio.Server:
    """Listen on ``host:port`` with a new :class:`SMTP` per connection;
    returns the server (``server.sockets[0].getsockname()`` has the port)."""
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: SMTP(handler, mtatls_context=ctx, loop=loop, **smtp_kwargs), host, port
    )


SMTPD_DEFAULTS: Sequence[Tuple[str, str]] = (
    ("smtpd_tls_security_level", "may"),
    ("smtpd_tls_loglevel", "1"),
    ("smtpd_tls_received_header", "yes"),
)


def _listen_address(text: str) -> Tuple[str, int]:
    if text.startswith("["):
        host, _, port = text[1:].partition("]:")
    elif ":" in text:
        host, _, port = text.rpartition(":")
    else:
        host, port = "127.0.0.1", text
    return host, int(port)


def build_context(main_cf: Optional[str], options: Sequence[str], workdir: str) -> Optional[Context]:
    """A server context from ``SMTPD_DEFAULTS``, a main.cf and ``name=value``
    options; a self-signed certificate (for the host name) when none is
    configured; None when ``smtpd_tls_security_level = none``."""
    with Params() as p:
        for name, value in SMTPD_DEFAULTS:
            p.set(name, value)
        if main_cf:
            p.load_file(main_cf)
        for opt in options:
            name, sep, value = opt.partition("=")
            if not sep:
                raise SystemExit("-o %s: expected name=value" % opt)
            p.set(name.strip(), value.strip())
        if p.get("smtpd_tls_security_level") == "none":
            return None
        if not p.get("smtpd_tls_chain_files") and not p.get("smtpd_tls_cert_file"):
            p.self_signed(socket.gethostname() or "localhost", os.path.join(workdir, "self-signed.pem"))
        return Context.server(p)


def main(argv: Optional[List[str]] = None) -> int:
    """``python -m mtatls.smtpd``: serve on ``[addr:]port`` (default
    address 127.0.0.1; port 0 picks a free one) until SIGTERM/SIGINT,
    printing ``listening on ADDR:PORT`` and Postfix's log lines to stderr
    (``mtatls-aiosmtpd: `` first), and each message, behind its
    Received: header, to stdout or to ``--maildir``. Defaults:
    ``smtpd_tls_security_level = may``, ``smtpd_tls_loglevel = 1``,
    ``smtpd_tls_received_header = yes``."""
    ap = argparse.ArgumentParser(prog="python -m mtatls.smtpd", description=main.__doc__)
    ap.add_argument("-c", dest="main_cf", help="a Postfix main.cf to read")
    ap.add_argument("-o", dest="options", action="append", default=[], help="name=value (repeatable)")
    ap.add_argument("--maildir", help="deliver into this Maildir instead of stdout")
    ap.add_argument("--hostname", help="the server's name (default: the host name)")
    ap.add_argument("listen", help="[addr:]port")
    args = ap.parse_args(argv)

    handler_out = logging.StreamHandler(sys.stderr)
    handler_out.setFormatter(logging.Formatter("mtatls-aiosmtpd: %(message)s"))
    for name in ("mtatls", "mtatls.smtpd"):
        logging.getLogger(name).setLevel(logging.INFO)
    logging.getLogger("mtatls").addHandler(handler_out)
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd's own

    host, port = _listen_address(args.listen)
    with tempfile.TemporaryDirectory(prefix="mtatls-aiosmtpd-") as work:
        try:
            ctx = build_context(args.main_cf, args.options, work)
        except MtatlsError as e:
            print("mtatls-aiosmtpd: fatal: %s" % e, file=sys.stderr)
            return 1
        deliver = maildir_writer(args.maildir) if args.maildir else stdout_writer
        hostname = args.hostname or socket.gethostname() or "localhost"
        return asyncio.run(_run(ctx, DeliveryHandler(deliver), host, port, hostname))


async def _run(ctx: Optional[Context], handler: DeliveryHandler, host: str, port: int, hostname: str) -> int:
    loop = asyncio.get_running_loop()
    stop: "asyncio.Future[int]" = loop.create_future()

    def on_signal(signum: int) -> None:
        if not stop.done():
            stop.set_result(signum)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, int(sig))
    server = await serve(ctx, handler, host, port, hostname=hostname, ident="ESMTP mtatls-aiosmtpd")
    sockname = server.sockets[0].getsockname()
    if ":" in sockname[0]:
        log.info("listening on [%s]:%d", sockname[0], sockname[1])
    else:
        log.info("listening on %s:%d", sockname[0], sockname[1])
    signum = await stop
    log.info("terminating on signal %d", signum)
    server.close()
    try:
        await asyncio.wait_for(server.wait_closed(), 10)
    except asyncio.TimeoutError:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
