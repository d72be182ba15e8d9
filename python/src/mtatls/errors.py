"""Exceptions of the mtatls binding, one class per ``mtatls_result`` code.

Every failed library call raises a subclass of :class:`MtatlsError` whose
``code`` is the C result value, ``name`` its constant's name
(``"MTATLS_RESULT_TIMEOUT"``) and ``message`` the library's detail text
(``mtatls_params_error`` / ``mtatls_session_error``), or the name when the
library keeps no text for that failure.

The classes follow the result groups of ``mtatls.h``::

    MtatlsError
    +-- UsageError            1-99    calling mistakes
    |   +-- NullParameter     1
    |   +-- Panic             2       a bug in the library; object unusable
    |   +-- InvalidArgument   3       (also a ValueError)
    |   +-- BadState          4
    +-- ParameterError        100-199
    |   +-- UnknownParameter  100
    |   +-- InvalidValue      101
    |   +-- ConfigFileError   102
    |   +-- StrictError       103
    +-- ContextError          200-299
    |   +-- CertificateError  200
    |   +-- CAStoreError      201
    |   +-- OpenSSLContextError 202
    |   +-- PolicyError       203
    +-- SessionError          300-399
        +-- HandshakeError    300
        +-- TimeoutError_     301
        +-- PeerClosed        302
        +-- SessionIOError    303
        +-- WantRead          304
        +-- WantWrite         305
        +-- NotVerified       306
        +-- Interrupted       307

A code this binding does not know (a newer library) maps to the group's
class, or to :class:`MtatlsError` itself.

Loading problems are not library results: :class:`LibraryNotFound` and
:class:`IncompatibleLibraryVersion` (both :class:`LibraryError`, an
``OSError``).
"""

from __future__ import annotations

import enum
from typing import Dict, Optional, Sequence, Tuple, Type

__all__ = [
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
    "error_for",
]


class Result(enum.IntEnum):
    """The ``mtatls_result`` values of ``mtatls.h`` (``MTATLS_RESULT_<NAME>``)."""

    OK = 0
    NULL_PARAMETER = 1
    PANIC = 2
    INVALID_ARGUMENT = 3
    BAD_STATE = 4
    UNKNOWN_PARAMETER = 100
    INVALID_VALUE = 101
    CONFIG_FILE = 102
    STRICT = 103
    CERTIFICATE = 200
    CA_STORE = 201
    CONTEXT = 202
    POLICY = 203
    HANDSHAKE = 300
    TIMEOUT = 301
    PEER_CLOSED = 302
    IO = 303
    WANT_READ = 304
    WANT_WRITE = 305
    NOT_VERIFIED = 306
    INTERRUPTED = 307

    @property
    def c_name(self) -> str:
        """The C constant's name, as ``mtatls_result_name()`` gives it."""
        return "MTATLS_RESULT_" + self.name


def result_name(code: int) -> str:
    """``mtatls_result_name()`` without the library: the constant's name,
    or ``"MTATLS_RESULT_UNKNOWN"`` for a value this binding does not know."""
    try:
        return Result(code).c_name
    except ValueError:
        return "MTATLS_RESULT_UNKNOWN"


class MtatlsError(Exception):
    """A failed mtatls call.

    Attributes: ``message`` (the library's text), ``code`` (the
    ``mtatls_result`` value), ``name`` (its constant's name)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message, code)
        self.message = message
        self.code = code
        self.name = result_name(code)

    def __str__(self) -> str:
        return self.message or self.name


class UsageError(MtatlsError):
    """Results 1-99: calling mistakes."""


class NullParameter(UsageError):
    """``MTATLS_RESULT_NULL_PARAMETER``: a required pointer was NULL (a
    binding bug: the binding never passes NULL where it is not allowed)."""


class Panic(UsageError):
    """``MTATLS_RESULT_PANIC``: the library panicked (a bug); the object
    involved is now unusable."""


class InvalidArgument(UsageError, ValueError):
    """``MTATLS_RESULT_INVALID_ARGUMENT``: bad role, bad descriptor, not
    UTF-8, a client-only call on a server session, ..."""


class BadState(UsageError):
    """``MTATLS_RESULT_BAD_STATE``: the call does not fit the object's state
    (read before the handshake, a setting after it started, a call from
    inside one of the object's own callbacks). The asyncio layer also raises
    it for a session whose earlier write was cancelled half-way."""


class ParameterError(MtatlsError):
    """Results 100-199: parameters."""


class UnknownParameter(ParameterError):
    """``MTATLS_RESULT_UNKNOWN_PARAMETER``: an invalid parameter name, or a
    lookup of a name the library does not know that was never set."""


class InvalidValue(ParameterError):
    """``MTATLS_RESULT_INVALID_VALUE``: a value Postfix would refuse."""


class ConfigFileError(ParameterError):
    """``MTATLS_RESULT_CONFIG_FILE``: a main.cf could not be read or parsed."""


class StrictError(ParameterError):
    """``MTATLS_RESULT_STRICT``: a Postfix warning made an error by
    ``mtatls_strict = yes``."""


class ContextError(MtatlsError):
    """Results 200-299: building a context."""


class CertificateError(ContextError):
    """``MTATLS_RESULT_CERTIFICATE``: certificate, key or chain files."""


class CAStoreError(ContextError):
    """``MTATLS_RESULT_CA_STORE``: the CA file or directory."""


class OpenSSLContextError(ContextError):
    """``MTATLS_RESULT_CONTEXT``: OpenSSL refused a context setting."""


class PolicyError(ContextError):
    """``MTATLS_RESULT_POLICY``: the security level rules the request out."""


class SessionError(MtatlsError):
    """Results 300-399: sessions."""


class HandshakeError(SessionError):
    """``MTATLS_RESULT_HANDSHAKE``: the handshake or a later TLS record failed."""


class TimeoutError_(SessionError):
    """``MTATLS_RESULT_TIMEOUT``: the call did not finish within its timeout
    (the library's own timeout; asyncio timeouts raise the built-in
    ``TimeoutError``)."""


class PeerClosed(SessionError):
    """``MTATLS_RESULT_PEER_CLOSED``: the peer closed the connection."""


class SessionIOError(SessionError):
    """``MTATLS_RESULT_IO``: a system call on the socket failed."""


class WantRead(SessionError):
    """``MTATLS_RESULT_WANT_READ``: non-blocking mode; call again once the
    socket is readable."""


class WantWrite(SessionError):
    """``MTATLS_RESULT_WANT_WRITE``: non-blocking mode; call again once the
    socket is writable."""


class NotVerified(SessionError):
    """``MTATLS_RESULT_NOT_VERIFIED``: the handshake completed but the peer
    failed the security level's authentication. The session still carries
    the end of the SMTP dialogue (QUIT); its ``info`` and ``summary()`` are
    set."""


class Interrupted(SessionError):
    """``MTATLS_RESULT_INTERRUPTED``: a signal interrupted the wait; repeat
    the call to continue."""


class LibraryError(OSError):
    """libmtatls could not be used (not a library result)."""


class LibraryNotFound(LibraryError):
    """No candidate library could be loaded. ``attempts`` lists
    ``(candidate, reason)`` in the order they were tried."""

    def __init__(self, attempts: Sequence[Tuple[str, str]]) -> None:
        self.attempts = list(attempts)
        lines = "".join("\n  %s: %s" % a for a in self.attempts) or " (no candidate)"
        super().__init__(
            "cannot load libmtatls (set MTATLS_LIB to its path, or install it"
            " where the system loader or pkg-config finds it); tried:" + lines
        )


class IncompatibleLibraryVersion(LibraryError):
    """The library loaded is of a version this binding was not written for.
    ``library_version`` / ``binding_version``: ``(major, minor, patch)``;
    ``path``: the candidate that was loaded."""

    def __init__(
        self,
        path: str,
        library_version: Tuple[int, int, int],
        binding_version: Tuple[int, int, int],
        version_text: str,
    ) -> None:
        self.path = path
        self.library_version = library_version
        self.binding_version = binding_version
        lib = "%d.%d.%d" % library_version
        mine = "%d.%d.%d" % binding_version
        if binding_version[0] == 0:
            need = "%d.%d.x" % binding_version[:2]
        else:
            need = "%d.x (at least %d.%d)" % (binding_version[0], binding_version[0], binding_version[1])
        super().__init__(
            "libmtatls %s is incompatible with this mtatls Python package %s (it needs a "
            "library %s): %s reports \"%s\"" % (lib, mine, need, path, version_text)
        )


_BY_CODE: Dict[int, Type[MtatlsError]] = {
    Result.NULL_PARAMETER: NullParameter,
    Result.PANIC: Panic,
    Result.INVALID_ARGUMENT: InvalidArgument,
    Result.BAD_STATE: BadState,
    Result.UNKNOWN_PARAMETER: UnknownParameter,
    Result.INVALID_VALUE: InvalidValue,
    Result.CONFIG_FILE: ConfigFileError,
    Result.STRICT: StrictError,
    Result.CERTIFICATE: CertificateError,
    Result.CA_STORE: CAStoreError,
    Result.CONTEXT: OpenSSLContextError,
    Result.POLICY: PolicyError,
    Result.HANDSHAKE: HandshakeError,
    Result.TIMEOUT: TimeoutError_,
    Result.PEER_CLOSED: PeerClosed,
    Result.IO: SessionIOError,
    Result.WANT_READ: WantRead,
    Result.WANT_WRITE: WantWrite,
    Result.NOT_VERIFIED: NotVerified,
    Result.INTERRUPTED: Interrupted,
}


def error_class(code: int) -> Type[MtatlsError]:
    """The exception class for a result code (see the module doc)."""
    cls = _BY_CODE.get(code)
    if cls is not None:
        return cls
    if 1 <= code < 100:
        return UsageError
    if 100 <= code < 200:
        return ParameterError
    if 200 <= code < 300:
        return ContextError
    if 300 <= code < 400:
        return SessionError
    return MtatlsError


def error_for(code: int, message: Optional[str] = None) -> MtatlsError:
    """The exception for a failed call: ``message`` (the library's text),
    else the constant's name."""
    return error_class(code)(message or result_name(code), code)
