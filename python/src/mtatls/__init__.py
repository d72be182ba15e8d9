"""mtatls: Postfix-compatible STARTTLS for Python mail servers and clients.

A ctypes binding (no other dependency) of libmtatls, which must be
installed: it is found through ``$MTATLS_LIB``, the system loader, or
pkg-config (see :mod:`mtatls._lib`). ::

    import mtatls
    print(mtatls.version())          # mtatls 0.1.0 (OpenSSL 3.0.19 27 Jan 2026)
    with mtatls.Params() as p:
        p.set("smtpd_tls_security_level", "may")
        p.self_signed("mx.example", "/tmp/mx.pem")
        ctx = mtatls.Context.server(p)
    # after "220 2.0.0 Ready to start TLS" on sock:
    with mtatls.Session(ctx, sock, "client.example[192.0.2.7]") as s:
        s.handshake()
        print(s.summary())           # Anonymous TLS connection established from ...

Modules: :mod:`mtatls.params`, :mod:`mtatls.context`,
:mod:`mtatls.session` (blocking and non-blocking calls), :mod:`mtatls.aio`
(asyncio), :mod:`mtatls.errors` (one exception class per result code),
:mod:`mtatls.smtpd` (an aiosmtpd server; needs aiosmtpd).

Every call releases the GIL (ctypes), so blocking sessions may run in
threads.
"""

from __future__ import annotations

from ._lib import (
    BINDING_VERSION,
    LOG_INFO,
    LOG_WARNING,
    TICKET_KEY_LEN,
    TIMEOUT_DEFAULT,
    TIMEOUT_NONBLOCK,
    library_path,
    load,
    version,
)
from .aio import AsyncSession, TlsTransport, start_tls
from .context import Context
from .errors import (
    BadState,
    CAStoreError,
    CertificateError,
    ConfigFileError,
    ContextError,
    HandshakeError,
    IncompatibleLibraryVersion,
    InvalidArgument,
    InvalidValue,
    Interrupted,
    LibraryError,
    LibraryNotFound,
    MtatlsError,
    NotVerified,
    NullParameter,
    OpenSSLContextError,
    Panic,
    ParameterError,
    PeerClosed,
    PolicyError,
    Result,
    SessionError,
    SessionIOError,
    StrictError,
    TimeoutError_,
    UnknownParameter,
    UsageError,
    WantRead,
    WantWrite,
)
from .params import Params
from .session import CertStatus, Session, SessionInfo, TlsrptReport, Trust

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "BINDING_VERSION",
    "LOG_INFO",
    "LOG_WARNING",
    "TICKET_KEY_LEN",
    "TIMEOUT_DEFAULT",
    "TIMEOUT_NONBLOCK",
    "load",
    "library_path",
    "version",
    "Params",
    "Context",
    "Session",
    "SessionInfo",
    "TlsrptReport",
    "Trust",
    "CertStatus",
    "AsyncSession",
    "TlsTransport",
    "start_tls",
    "Result",
    "MtatlsError",
    "UsageError",
    "NullParameter",
    "Panic",
    "InvalidArgument",
    "BadState",
    "ParameterError",
    "UnknownParameter",
    "InvalidValue",
    "ConfigFileError",
    "StrictError",
    "ContextError",
    "CertificateError",
    "CAStoreError",
    "OpenSSLContextError",
    "PolicyError",
    "SessionError",
    "HandshakeError",
    "TimeoutError_",
    "PeerClosed",
    "SessionIOError",
    "WantRead",
    "WantWrite",
    "NotVerified",
    "Interrupted",
    "LibraryError",
    "LibraryNotFound",
    "IncompatibleLibraryVersion",
]
