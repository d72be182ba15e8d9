"""TLS contexts (``mtatls_ctx``)."""

from __future__ import annotations

import ctypes
import json
from types import TracebackType
from typing import Any, Dict, Optional, Type

from . import _lib
from ._lib import StrLike
from .errors import Result, error_for
from .params import Params

__all__ = ["Context"]


class Context:
    """A client (``smtp``, ``lmtp``) or server (``smtpd``) TLS context:
    immutable once built, and safe to share between threads. Every
    certificate, key, CA and DH file is read when it is built (raises
    :class:`~mtatls.errors.ContextError` and friends, or
    :class:`~mtatls.errors.InvalidArgument` for a bad role). Sessions keep
    the C context alive: closing it while sessions exist is fine."""

    def __init__(self, params: Params, role: StrLike) -> None:
        self._h: Optional[int] = None
        lib = _lib.lib()
        out = ctypes.c_void_p()
        rc = lib.mtatls_ctx_new(params._handle(), _lib.b(role, "role"), ctypes.byref(out))
        if rc != Result.OK:
            raise error_for(rc, _lib.s(lib.mtatls_params_error(params._h)))
        self._h = out.value
        self.role = role if isinstance(role, str) else _lib.s(_lib.b(role, "role"))
        # The C context, and sessions made from it, call these: keep them
        # alive as long as this object, which sessions reference.
        self._callbacks = params._callbacks()

    @classmethod
    def client(cls, params: Params, role: str = "smtp") -> "Context":
        """A client context: role ``"smtp"`` or ``"lmtp"``."""
        return cls(params, role)

    @classmethod
    def server(cls, params: Params) -> "Context":
        """A server context (role ``"smtpd"``)."""
        return cls(params, "smtpd")

    def close(self) -> None:
        """Release this reference; sessions keep the C context alive."""
        if self._h:
            _lib.lib().mtatls_ctx_free(self._h)
            self._h = None

    def __enter__(self) -> "Context":
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
            raise ValueError("Context is closed")
        return self._h

    @property
    def is_server(self) -> bool:
        """Whether this is a server (``smtpd``) context."""
        return self.role == "smtpd"

    @property
    def received_header(self) -> bool:
        """Server: ``smtpd_tls_received_header`` (False for a client)."""
        return bool(_lib.lib().mtatls_ctx_received_header(self._handle()))

    @property
    def wrappermode(self) -> bool:
        """Server: ``smtpd_tls_wrappermode``, TLS on connect (False for a client)."""
        return bool(_lib.lib().mtatls_ctx_wrappermode(self._handle()))

    @property
    def tls_required(self) -> bool:
        """Whether TLS is mandatory: server level ``encrypt`` or wrapper
        mode; client default level above ``may``."""
        return bool(_lib.lib().mtatls_ctx_tls_required(self._handle()))

    def set_ticket_key(self, key: bytes, expires: int) -> None:
        """Server: install an 80-byte session ticket key (16 name, 32 cipher,
        32 HMAC bytes) that encrypts new tickets until ``expires`` (Unix
        time). :class:`~mtatls.errors.BadState` if the context issues no
        tickets, :class:`~mtatls.errors.InvalidArgument` for a bad length."""
        raw = bytes(key)
        rc = _lib.lib().mtatls_ctx_set_ticket_key(self._handle(), raw, len(raw), int(expires))
        if rc != Result.OK:
            raise error_for(rc)

    def fs_report(self) -> str:
        """The forward-secrecy report (text): protocol range, suites, groups,
        DH parameters, problems and a verdict."""
        return _lib.sized_string(_lib.lib().mtatls_ctx_fs_report, self._handle(), False)

    def fs_report_json(self) -> Dict[str, Any]:
        """The forward-secrecy report as the library's JSON object."""
        text = _lib.sized_string(_lib.lib().mtatls_ctx_fs_report, self._handle(), True)
        value: Dict[str, Any] = json.loads(text)
        return value
