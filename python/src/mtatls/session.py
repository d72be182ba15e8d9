"""TLS sessions on a caller's socket (``mtatls_session``)."""

from __future__ import annotations

import ctypes
import dataclasses
import enum
import socket
from types import TracebackType
from typing import Any, Dict, List, Optional, Sequence, Type, Union

from . import _lib
from ._lib import StrLike
from .context import Context
from .errors import Result, error_for

__all__ = ["Session", "SessionInfo", "Trust", "CertStatus", "SocketLike", "TlsrptReport"]


class Trust(enum.IntEnum):
    """The outcome word of Postfix's summary line (``mtatls_trust``)."""

    ANONYMOUS = 0
    UNTRUSTED = 1
    TRUSTED = 2
    VERIFIED = 3


class CertStatus(enum.IntFlag):
    """``MTATLS_CERT_*`` bits of :attr:`SessionInfo.peer_status`."""

    NONE = 0
    PRESENT = 1
    TRUSTED = 4
    MATCHED = 8
    SECURED = 16
    RPK = 32


@dataclasses.dataclass(frozen=True)
class SessionInfo:
    """The facts of an established session (``mtatls_session_facts``);
    strings are "" where not applicable."""

    protocol: str
    cipher_name: str
    cipher_usebits: int
    cipher_algbits: int
    kex_name: str
    kex_curve: str
    kex_bits: int
    clnt_sig_name: str
    clnt_sig_curve: str
    clnt_sig_bits: int
    clnt_sig_dgst: str
    srvr_sig_name: str
    srvr_sig_curve: str
    srvr_sig_bits: int
    srvr_sig_dgst: str
    peer_cn: str
    issuer_cn: str
    peer_cert_fprint: str
    peer_pkey_fprint: str
    peer_sni: str
    peer_label: str
    peer_status: CertStatus
    trust: Trust
    forward_secret: bool
    reused: bool
    am_server: bool

    @classmethod
    def _from_c(cls, f: _lib.Facts) -> "SessionInfo":
        values: Dict[str, Any] = {}
        for field in _lib.Facts._fields_:
            name, ctype = field[0], field[1]
            v = getattr(f, name)
            if ctype is ctypes.c_char_p:
                v = _lib.s(v)
            values[name] = v
        values["peer_status"] = CertStatus(values["peer_status"])
        values["trust"] = Trust(values["trust"])
        for flag in ("forward_secret", "reused", "am_server"):
            values[flag] = bool(values[flag])
        return cls(**values)


@dataclasses.dataclass(frozen=True)
class TlsrptReport:
    """The TLSRPT (RFC 8460) facts of a finished client session
    (``mtatls_session_tlsrpt_*``), as Postfix 3.10 and later report the
    same session; optional texts are "" when absent."""

    #: 0 for success, else the failure type (libtlsrpt's numbers, 201-306).
    result: int
    #: The RFC 8460 name of ``result`` (``"certificate-expired"``, ``"success"``).
    result_name: str
    #: The failure-reason code (``"self-signed_certificate"``), or "".
    reason: str
    #: Additional information (never set by Postfix or mtatls): "".
    additional_info: str
    #: The receiving MX host name (the peer label's host).
    receiving_mx: str
    #: The receiving IP address.
    receiving_ip: str
    #: The sending MTA's IP address (the socket's local address).
    sending_ip: str
    #: 1 (tlsa) or 9 (no-policy-found).
    policy_type: int
    #: The TLSA base domain (tlsa), else the next-hop domain.
    policy_domain: str
    #: The TLSA records as Postfix reports them (``"3 1 1 HEX"``).
    policy_strings: List[str]


#: A connected socket object, or a descriptor the caller keeps open.
SocketLike = Union[socket.socket, int, Any]


class Session:
    """A TLS session on one connected socket (``mtatls_session``), started
    after the plain-text STARTTLS exchange (or at once in wrapper mode).

    ``sock``: a socket object (kept referenced so that its descriptor stays
    open) or a descriptor the caller keeps open. The library makes the
    descriptor non-blocking while the session exists, restores its flags on
    :meth:`stop`/:meth:`close`, and never closes it. Use a session from one
    thread at a time.

    Timeouts of the blocking calls: None = the Postfix parameter's default
    (``smtpd_starttls_timeout``, ``smtpd_timeout``, ...), 0 = non-blocking
    (:class:`~mtatls.errors.WantRead` / :class:`~mtatls.errors.WantWrite`:
    call again when the socket is ready; :mod:`mtatls.aio` does this for
    asyncio), N > 0 = at most N seconds in all (rounded up to whole seconds).

    Leaving a ``with`` block frees the session without close_notify: call
    :meth:`stop` first for an orderly close."""

    def __init__(self, ctx: Context, sock: SocketLike, peer_label: StrLike) -> None:
        self._h: Optional[int] = None
        fd = sock if isinstance(sock, int) else int(sock.fileno())
        if fd < 0:
            raise ValueError("socket is closed")
        out = ctypes.c_void_p()
        rc = _lib.lib().mtatls_session_new(ctx._handle(), fd, _lib.b(peer_label, "peer_label"), ctypes.byref(out))
        if rc != Result.OK:
            # The library keeps no text for this failure (it logs it).
            raise error_for(rc)
        self._h = out.value
        self._ctx = ctx  # keeps the log / cache callbacks alive
        self._sock = sock  # keeps the descriptor open
        self._buf = ctypes.create_string_buffer(0)
        self.fd = fd
        self.peer_label = peer_label if isinstance(peer_label, str) else _lib.s(_lib.b(peer_label, "label"))

    @property
    def context(self) -> Context:
        """The context this session was made from."""
        return self._ctx

    def close(self) -> None:
        """Free the session (no close_notify; the socket stays open)."""
        if self._h:
            _lib.lib().mtatls_session_free(self._h)
            self._h = None

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return not self._h

    def __enter__(self) -> "Session":
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    def _handle(self) -> int:
        if not self._h:
            raise ValueError("Session is closed")
        return self._h

    def _check(self, rc: int) -> None:
        if rc != Result.OK:
            raise error_for(rc, _lib.s(_lib.lib().mtatls_session_error(self._h)))

    # -- client settings, before the handshake --
    def set_level(self, level: StrLike) -> None:
        """Client: this session's security level by Postfix name (``may``,
        ``encrypt``, ``fingerprint``, ``dane``, ``dane-only``, ``verify``,
        ``secure``)."""
        self._check(_lib.lib().mtatls_session_set_level(self._handle(), _lib.b(level, "level")))

    def set_peer_names(self, host: StrLike = "", nexthop: StrLike = "") -> None:
        """Client: the server's host name (MX) and the destination domain."""
        self._check(
            _lib.lib().mtatls_session_set_peer_names(self._handle(), _lib.b(host, "host"), _lib.b(nexthop, "nexthop"))
        )

    def set_match(self, match: Union[StrLike, Sequence[str]]) -> None:
        """Client: a match list for this session (names and strategies, or
        fingerprints at level ``fingerprint``); a list or tuple is joined
        with commas."""
        text: StrLike = ", ".join(match) if isinstance(match, (list, tuple)) else match  # type: ignore[assignment]
        self._check(_lib.lib().mtatls_session_set_match(self._handle(), _lib.b(text, "match")))

    def add_tlsa(self, usage: int, selector: int, mtype: int, data: bytes) -> None:
        """Client: a TLSA record (RFC 6698) for levels ``dane``/``dane-only``."""
        raw = bytes(data)
        self._check(_lib.lib().mtatls_session_add_tlsa(self._handle(), usage, selector, mtype, raw, len(raw)))

    def set_servername(self, name: StrLike) -> None:
        """Client: the SNI name to send (``hostname``, ``nexthop``, a name, or "")."""
        self._check(_lib.lib().mtatls_session_set_servername(self._handle(), _lib.b(name, "name")))

    def set_serverid(self, serverid: StrLike) -> None:
        """Client: the session cache key, e.g. ``[mx.example.net]:25``."""
        self._check(_lib.lib().mtatls_session_set_serverid(self._handle(), _lib.b(serverid, "serverid")))

    def set_tlsa_base(self, base: StrLike) -> None:
        """Client: the TLSA base domain."""
        self._check(_lib.lib().mtatls_session_set_tlsa_base(self._handle(), _lib.b(base, "base")))

    # -- per-session policy (a Postfix TLS policy table's fields) --
    def set_protocols(self, protocols: StrLike) -> None:
        """The TLS protocols of this session (``">=TLSv1.2"``, ``"!TLSv1.3"``),
        replacing the level's."""
        self._check(_lib.lib().mtatls_session_set_protocols(self._handle(), _lib.b(protocols, "protocols")))

    def set_cipher_grade(self, grade: StrLike) -> None:
        """The cipher grade of this session (``high``, ``medium``, ``null``, ...)."""
        self._check(_lib.lib().mtatls_session_set_cipher_grade(self._handle(), _lib.b(grade, "grade")))

    def set_exclusions(self, exclusions: StrLike) -> None:
        """Cipher exclusions of this session (``"aNULL, RC4"``); those the
        level implies stay."""
        self._check(_lib.lib().mtatls_session_set_exclusions(self._handle(), _lib.b(exclusions, "exclusions")))

    def set_fingerprint_digest(self, digest: StrLike) -> None:
        """Client: the fingerprint digest of this session (``sha256``, ``sha1``, ...)."""
        self._check(_lib.lib().mtatls_session_set_fingerprint_digest(self._handle(), _lib.b(digest, "digest")))

    def set_ca_file(self, path: StrLike) -> None:
        """Client: verify the server with the CA certificates of this PEM file."""
        self._check(_lib.lib().mtatls_session_set_ca_file(self._handle(), _lib.b(path, "path")))

    def set_ca_path(self, path: StrLike) -> None:
        """Client: verify the server with this CA directory (``openssl rehash``)."""
        self._check(_lib.lib().mtatls_session_set_ca_path(self._handle(), _lib.b(path, "path")))

    def set_trust_anchor_file(self, path: StrLike) -> None:
        """Client: trust anchors (PEM certificates or public keys; a file or a
        list) for levels ``verify`` and ``secure``."""
        self._check(_lib.lib().mtatls_session_set_trust_anchor_file(self._handle(), _lib.b(path, "path")))

    def set_chain_files(self, files: StrLike) -> None:
        """This session's own keys and certificates (``*_tls_chain_files``
        syntax), replacing the context's."""
        self._check(_lib.lib().mtatls_session_set_chain_files(self._handle(), _lib.b(files, "files")))

    def set_loglevel(self, loglevel: StrLike) -> None:
        """This session's log level (``"1"``, ``"routine,certmatch"``, ...)."""
        self._check(_lib.lib().mtatls_session_set_loglevel(self._handle(), _lib.b(loglevel, "loglevel")))

    # -- I/O --
    def handshake(self, timeout: Optional[float] = None) -> None:
        """Run the TLS handshake. :class:`~mtatls.errors.NotVerified`: it
        completed, but the peer failed authentication (``info`` and
        :meth:`summary` are set, QUIT can still be sent). Calling it again
        after it finished gives the same outcome."""
        self._check(_lib.lib().mtatls_session_handshake(self._handle(), _lib.c_timeout(timeout)))

    def read(self, n: int = 4096, timeout: Optional[float] = None) -> bytes:
        """Up to ``n`` decrypted bytes; ``b""`` when the peer closed the
        connection (see :attr:`truncated`)."""
        h = self._handle()
        if n <= 0:
            return b""
        if len(self._buf) < n:
            self._buf = ctypes.create_string_buffer(n)
        got = ctypes.c_size_t(0)
        self._check(_lib.lib().mtatls_session_read(h, self._buf, n, _lib.c_timeout(timeout), ctypes.byref(got)))
        return ctypes.string_at(self._buf, got.value)

    def write(self, data: bytes, timeout: Optional[float] = None) -> int:
        """Write all of ``data`` and return its length. Non-blocking
        (``timeout=0``): on WantRead/WantWrite call again with the same
        data once the socket is ready."""
        h = self._handle()
        raw = bytes(data)
        done = ctypes.c_size_t(0)
        self._check(_lib.lib().mtatls_session_write(h, raw, len(raw), _lib.c_timeout(timeout), ctypes.byref(done)))
        return done.value

    def stop(self, timeout: Optional[float] = None) -> None:
        """Send close_notify (unless the handshake never completed or
        failed) and restore the socket's flags; the socket stays open."""
        self._check(_lib.lib().mtatls_session_stop(self._handle(), _lib.c_timeout(timeout)))

    # -- results --
    @property
    def info(self) -> Optional[SessionInfo]:
        """:class:`SessionInfo` of the established session (also after
        NotVerified); None before the handshake has completed."""
        p = _lib.lib().mtatls_session_get_facts(self._handle())
        return SessionInfo._from_c(p.contents) if p else None

    def summary(self) -> str:
        """Postfix's summary line (``"Untrusted TLS connection established
        to ..."``); "" before the handshake."""
        return _lib.sized_string(_lib.lib().mtatls_session_summary, self._handle())

    def received_header(self) -> str:
        """Server: the Received: header TLS comment, TAB-led continuation
        lines separated by ``"\\n"``; "" before the handshake and for a
        client."""
        return _lib.sized_string(_lib.lib().mtatls_session_received_comment, self._handle())

    def peer_certificates(self, verified: bool = False, der: bool = False) -> List[Union[str, bytes]]:
        """The peer's certificates, leaf first: as it sent them, or
        (``verified=True``) the chain verification built, ending at the
        trust anchor ([] when none was built). PEM text, or DER bytes with
        ``der=True``. [] before the handshake has completed."""
        lib = _lib.lib()
        h = self._handle()
        fmt = 1 if der else 0
        out: List[Union[str, bytes]] = []
        for i in range(lib.mtatls_session_peer_certificate_count(h, verified)):
            n = lib.mtatls_session_peer_certificate(h, verified, i, fmt, None, 0)
            buf = ctypes.create_string_buffer(n + 1)
            got = lib.mtatls_session_peer_certificate(h, verified, i, fmt, buf, n + 1)
            if got != n or n == 0:
                raise error_for(Result.BAD_STATE, f"peer certificate {i} of {self.peer_label}: changed while read")
            out.append(buf.raw[:n] if der else buf.raw[:n].decode("ascii"))
        return out

    def tlsrpt(self) -> Optional[TlsrptReport]:
        """Client: the TLSRPT facts of the finished handshake (established,
        not verified, or failed), as Postfix's smtp of the selected release
        reports them; None for a server, before the handshake has ended, or
        when it never started."""
        lib = _lib.lib()
        h = self._handle()
        result = lib.mtatls_session_tlsrpt_result(h)
        if result < 0:
            return None

        def text(fn: Any, *args: Any) -> str:
            return _lib.sized_string(fn, h, *args)

        return TlsrptReport(
            result=result,
            result_name=_lib.s(lib.mtatls_tlsrpt_result_name(result)),
            reason=text(lib.mtatls_session_tlsrpt_reason),
            additional_info=text(lib.mtatls_session_tlsrpt_additional_info),
            receiving_mx=text(lib.mtatls_session_tlsrpt_receiving_mx),
            receiving_ip=text(lib.mtatls_session_tlsrpt_receiving_ip),
            sending_ip=text(lib.mtatls_session_tlsrpt_sending_ip),
            policy_type=lib.mtatls_session_tlsrpt_policy_type(h),
            policy_domain=text(lib.mtatls_session_tlsrpt_policy_domain),
            policy_strings=[
                text(lib.mtatls_session_tlsrpt_policy_string, i)
                for i in range(lib.mtatls_session_tlsrpt_policy_string_count(h))
            ],
        )

    @property
    def error(self) -> str:
        """The text of the last failed call on this session ("" if none)."""
        return _lib.s(_lib.lib().mtatls_session_error(self._handle()))

    @property
    def truncated(self) -> bool:
        """The peer closed the connection without close_notify."""
        return bool(_lib.lib().mtatls_session_truncated(self._handle()))
