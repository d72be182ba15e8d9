"""Postfix parameters (``mtatls_params``) and their callbacks."""

from __future__ import annotations

import ctypes
import logging
from types import TracebackType
from typing import Any, Callable, Optional, Tuple, Type, Union

from . import _lib
from ._lib import StrLike
from .errors import Result, error_for

__all__ = ["Params", "LogFunc", "logging_route", "LOG_INFO", "LOG_WARNING"]

LOG_INFO = _lib.LOG_INFO
LOG_WARNING = _lib.LOG_WARNING

#: A log callback: ``func(level, line)``, level ``LOG_INFO`` or ``LOG_WARNING``.
LogFunc = Callable[[int, str], None]
CacheGet = Callable[[str], Optional[bytes]]
CachePut = Callable[[str, bytes, int], None]
CacheRemove = Callable[[str], None]
SniFunc = Callable[[str], Optional[str]]

_logger = logging.getLogger("mtatls")


def logging_route(level: int, line: str) -> None:
    """The default log callback: the ``logging`` logger ``"mtatls"``,
    warnings at WARNING, everything else at INFO."""
    _logger.log(logging.WARNING if level == LOG_WARNING else logging.INFO, "%s", line)


class Params:
    """A set of Postfix parameter values (``mtatls_params``): every
    parameter starts at its Postfix default. Not thread-safe.

    ``log``: where the library's lines go for contexts made from these
    parameters: a callable ``(level, line)``; by default
    :func:`logging_route` (logger ``"mtatls"``); ``None`` leaves them on
    stderr as the C library does without a callback. A callback must not
    call back into the object that is logging (the library answers
    ``BadState``)."""

    def __init__(self, log: Optional[LogFunc] = logging_route) -> None:
        self._h: Optional[int] = None
        out = ctypes.c_void_p()
        rc = _lib.lib().mtatls_params_new(ctypes.byref(out))
        if rc != Result.OK:
            raise error_for(rc)
        self._h = out.value
        self._log_cb: Any = None
        self._cache_cbs: Optional[Tuple[Any, Any, Any]] = None
        self._sni_cb: Any = None
        if log is not None:
            self.log_callback(log)

    # -- lifetime --
    def close(self) -> None:
        """Free the parameters. Contexts made from them stay valid."""
        if self._h:
            _lib.lib().mtatls_params_free(self._h)
            self._h = None

    def __enter__(self) -> "Params":
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
            raise ValueError("Params is closed")
        return self._h

    @property
    def error(self) -> str:
        """The text of the last failed call ("" after a success)."""
        return _lib.s(_lib.lib().mtatls_params_error(self._handle()))

    def _check(self, rc: int) -> None:
        if rc != Result.OK:
            raise error_for(rc, _lib.s(_lib.lib().mtatls_params_error(self._h)))

    # -- values --
    def set(self, name: StrLike, value: Union[StrLike, int, bool]) -> "Params":
        """Set a Postfix parameter (``smtpd_tls_protocols``, ...); booleans
        become ``yes``/``no``, numbers their decimal text. Any valid name
        is kept; an unknown one that looks like a TLS parameter gets an
        "unused parameter" warning when a context is built (see the C
        header). Raises :class:`~mtatls.errors.UnknownParameter` for an
        invalid name or :class:`~mtatls.errors.InvalidValue`."""
        h = self._handle()
        if isinstance(value, bool):
            value = "yes" if value else "no"
        elif isinstance(value, int):
            value = str(value)
        self._check(_lib.lib().mtatls_params_set(h, _lib.b(name, "name"), _lib.b(value, "value")))
        return self

    def __setitem__(self, name: str, value: Union[StrLike, int, bool]) -> None:
        self.set(name, value)

    def __getitem__(self, name: str) -> str:
        return self.get(name)

    def get(self, name: StrLike) -> str:
        """The expanded value of a parameter."""
        h = self._handle()
        cname = _lib.b(name, "name")
        needed = ctypes.c_size_t(0)
        self._check(_lib.lib().mtatls_params_get(h, cname, None, 0, ctypes.byref(needed)))
        while True:
            size = needed.value + 1
            buf = ctypes.create_string_buffer(size)
            self._check(_lib.lib().mtatls_params_get(h, cname, buf, size, ctypes.byref(needed)))
            if needed.value < size:
                return _lib.s(buf.value)

    def load_file(self, path: StrLike) -> "Params":
        """Read a main.cf file as Postfix does (comments, continuation
        lines, later lines win)."""
        h = self._handle()
        self._check(_lib.lib().mtatls_params_load_file(h, _lib.b(path, "path")))
        return self

    def load_string(self, text: StrLike, origin: Optional[StrLike] = None) -> "Params":
        """Read main.cf text; ``origin`` names it in messages."""
        h = self._handle()
        self._check(
            _lib.lib().mtatls_params_load_string(
                h, _lib.b(text, "text"), None if origin is None else _lib.b(origin, "origin")
            )
        )
        return self

    def self_signed(self, common_name: StrLike, path: StrLike) -> "Params":
        """Make an RSA-2048 key and a self-signed certificate for
        ``common_name``, write both to ``path`` (PEM, mode 0600) and set
        ``smtpd_tls_chain_files`` to it (about 0.1 s)."""
        h = self._handle()
        self._check(
            _lib.lib().mtatls_params_self_signed(h, _lib.b(common_name, "common_name"), _lib.b(path, "path"))
        )
        return self

    # -- callbacks --
    def log_callback(self, func: Optional[LogFunc] = logging_route) -> "Params":
        """Send the log lines of contexts made from now on to
        ``func(level, line)``; None: back to stderr. Exceptions raised by
        ``func`` are logged to ``"mtatls"`` and never reach the library."""
        h = self._handle()
        if func is None:
            self._check(_lib.lib().mtatls_params_set_log_callback(h, _lib.LOG_CB(), None))
            self._log_cb = None
            return self
        target = func

        def cb(_userdata: Optional[int], level: int, line: Optional[bytes]) -> None:
            try:
                target(level, _lib.s(line))
            except BaseException:  # never let an exception reach C
                _logger.exception("mtatls log callback failed")

        c_cb = _lib.LOG_CB(cb)
        self._check(_lib.lib().mtatls_params_set_log_callback(h, c_cb, None))
        self._log_cb = c_cb
        return self

    def session_cache(
        self,
        get: Optional[CacheGet] = None,
        put: Optional[CachePut] = None,
        remove: Optional[CacheRemove] = None,
    ) -> "Params":
        """Client session cache in a store of the caller's, for contexts
        made from now on: ``get(key) -> bytes | None``,
        ``put(key, data, expires)`` (Unix time), ``remove(key)``. All three
        or none (none: back to the library's in-memory cache). They are
        called from the threads running handshakes."""
        h = self._handle()
        given = [f is not None for f in (get, put, remove)]
        if any(given) and not all(given):
            raise ValueError("session_cache needs get, put and remove, or none")
        if get is None or put is None or remove is None:
            self._check(
                _lib.lib().mtatls_params_set_session_cache(h, _lib.GET_CB(), _lib.PUT_CB(), _lib.REMOVE_CB(), None)
            )
            self._cache_cbs = None
            return self
        fget, fput, fremove = get, put, remove

        def c_get(_u: Optional[int], key: Optional[bytes], buf: Any, size: int) -> int:
            try:
                data = fget(_lib.s(key))
                if not data:
                    return 0
                data = bytes(data)
                if len(data) <= size:
                    ctypes.memmove(buf, data, len(data))
                return len(data)
            except BaseException:
                _logger.exception("mtatls session cache get failed")
                return 0

        def c_put(_u: Optional[int], key: Optional[bytes], data: Any, size: int, expires: int) -> None:
            try:
                fput(_lib.s(key), ctypes.string_at(data, size), int(expires))
            except BaseException:
                _logger.exception("mtatls session cache put failed")

        def c_remove(_u: Optional[int], key: Optional[bytes]) -> None:
            try:
                fremove(_lib.s(key))
            except BaseException:
                _logger.exception("mtatls session cache remove failed")

        cbs = (_lib.GET_CB(c_get), _lib.PUT_CB(c_put), _lib.REMOVE_CB(c_remove))
        self._check(_lib.lib().mtatls_params_set_session_cache(h, cbs[0], cbs[1], cbs[2], None))
        self._cache_cbs = cbs
        return self

    def session_cache_name(self, name: StrLike) -> "Params":
        """The client cache's name in log lines (``looking for session ...
        in NAME cache``); default: the role prefix."""
        self._check(_lib.lib().mtatls_params_set_session_cache_name(self._handle(), _lib.b(name, "name")))
        return self

    def sni_callback(self, func: Optional[SniFunc]) -> "Params":
        """Server: pick the ``tls_server_sni_maps`` entry for each SNI name
        with ``func(servername) -> key | None`` (None keeps the default
        chain) instead of Postfix's lookup, for contexts made from now on;
        ``func=None``: back to Postfix's lookup."""
        h = self._handle()
        if func is None:
            self._check(_lib.lib().mtatls_params_set_sni_callback(h, _lib.SNI_CB(), None))
            self._sni_cb = None
            return self
        target = func

        def cb(_u: Optional[int], name: Optional[bytes], key: Optional[int], size: int) -> bool:
            try:
                chosen = target(_lib.s(name))
                if chosen is None or key is None:
                    return False
                raw = chosen.encode()
                if len(raw) + 1 > size:
                    _logger.warning("mtatls SNI callback: key %r longer than %d bytes", chosen, size - 1)
                    return False
                ctypes.memmove(key, raw + b"\0", len(raw) + 1)
                return True
            except BaseException:
                _logger.exception("mtatls SNI callback failed")
                return False

        c_cb = _lib.SNI_CB(cb)
        self._check(_lib.lib().mtatls_params_set_sni_callback(h, c_cb, None))
        self._sni_cb = c_cb
        return self

    def _callbacks(self) -> Tuple[Any, ...]:
        """The ctypes callbacks a context made now must keep alive."""
        return (self._log_cb, self._cache_cbs, self._sni_cb)
