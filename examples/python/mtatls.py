"""mtatls.py - Python binding (ctypes, standard library only) of mtatls,
Postfix-compatible STARTTLS over the system's OpenSSL.

    import mtatls
    with mtatls.Params() as p:
        p.set("smtpd_tls_security_level", "may")
        p.self_signed("mx.example", "/tmp/mx.pem")
        ctx = mtatls.Context.server(p)
    # after "220 2.0.0 Ready to start TLS" on sock:
    with mtatls.Session(ctx, sock, "client.example[192.0.2.7]") as s:
        s.handshake()
        print(s.summary())

The library is found by load(): an explicit path, $MTATLS_LIB, the system
(ctypes.util.find_library("mtatls"), then "libmtatls.so"), else the newest
of target/release/ and target/debug/ of the repository this file lives in.
Every call releases the GIL (ctypes.CDLL), so sessions may run in threads.
"""

import ctypes
import ctypes.util
import dataclasses
import enum
import logging
import math
import os
import threading

__all__ = [
    "load", "library_path", "version", "Params", "Context", "Session", "SessionInfo",
    "Trust", "CertStatus", "MtatlsError", "UsageError", "InvalidArgument", "BadState",
    "ParameterError", "UnknownParameter", "InvalidValue", "ConfigFileError", "StrictError",
    "ContextError", "CertificateError", "CAStoreError", "PolicyError",
    "SessionError", "HandshakeError", "TimeoutError_", "PeerClosed", "SessionIOError",
    "WantRead", "WantWrite", "NotVerified", "Interrupted",
    "LOG_WARNING", "LOG_INFO", "TICKET_KEY_LEN",
]

# ---- constants (mtatls.h) ----

TIMEOUT_DEFAULT = -1
TIMEOUT_NONBLOCK = 0
LOG_WARNING = 4
LOG_INFO = 6
TICKET_KEY_LEN = 80

RESULT_OK = 0
RESULT_NULL_PARAMETER = 1
RESULT_PANIC = 2
RESULT_INVALID_ARGUMENT = 3
RESULT_BAD_STATE = 4
RESULT_UNKNOWN_PARAMETER = 100
RESULT_INVALID_VALUE = 101
RESULT_CONFIG_FILE = 102
RESULT_STRICT = 103
RESULT_CERTIFICATE = 200
RESULT_CA_STORE = 201
RESULT_CONTEXT = 202
RESULT_POLICY = 203
RESULT_HANDSHAKE = 300
RESULT_TIMEOUT = 301
RESULT_PEER_CLOSED = 302
RESULT_IO = 303
RESULT_WANT_READ = 304
RESULT_WANT_WRITE = 305
RESULT_NOT_VERIFIED = 306
RESULT_INTERRUPTED = 307


class Trust(enum.IntEnum):
    """The outcome word of Postfix's summary line (mtatls_trust)."""
    ANONYMOUS = 0
    UNTRUSTED = 1
    TRUSTED = 2
    VERIFIED = 3


class CertStatus(enum.IntFlag):
    """MTATLS_CERT_* bits of SessionInfo.peer_status."""
    NONE = 0
    PRESENT = 1
    TRUSTED = 4
    MATCHED = 8
    SECURED = 16


# ---- errors ----

class MtatlsError(Exception):
    """A failed mtatls call: `message` is the library's text
    (mtatls_params_error / mtatls_session_error, or the result name when the
    library keeps none), `code` the mtatls_result value, `name` its constant
    name (mtatls_result_name)."""

    def __init__(self, message, code):
        super().__init__(message, code)
        self.message = message
        self.code = code
        self.name = _result_name(code)

    def __str__(self):
        return self.message or self.name


class UsageError(MtatlsError):
    """Results 1-99: calling mistakes (NULL, panic, bad argument, bad state)."""


class InvalidArgument(UsageError, ValueError):
    """MTATLS_RESULT_INVALID_ARGUMENT (bad role, bad descriptor, not UTF-8...)."""


class BadState(UsageError):
    """MTATLS_RESULT_BAD_STATE: the call does not fit the object's state."""


class ParameterError(MtatlsError):
    """Results 100-199: parameters."""


class UnknownParameter(ParameterError):
    pass


class InvalidValue(ParameterError):
    pass


class ConfigFileError(ParameterError):
    pass


class StrictError(ParameterError):
    pass


class ContextError(MtatlsError):
    """Results 200-299: contexts (certificates, CA store, OpenSSL, policy)."""


class CertificateError(ContextError):
    pass


class CAStoreError(ContextError):
    pass


class PolicyError(ContextError):
    pass


class SessionError(MtatlsError):
    """Results 300-399: sessions."""


class HandshakeError(SessionError):
    pass


class TimeoutError_(SessionError):
    """The call did not finish within its timeout."""


class PeerClosed(SessionError):
    pass


class SessionIOError(SessionError):
    pass


class WantRead(SessionError):
    """Non-blocking mode: call again once the socket is readable."""


class WantWrite(SessionError):
    """Non-blocking mode: call again once the socket is writable."""


class NotVerified(SessionError):
    """The handshake completed but the peer failed the security level's
    authentication. The session is still usable to end the SMTP dialogue
    (QUIT) before stop(); its info and summary() are available."""


class Interrupted(SessionError):
    """A signal interrupted the wait (EINTR); repeat the call to continue."""


_BY_CODE = {
    RESULT_INVALID_ARGUMENT: InvalidArgument,
    RESULT_BAD_STATE: BadState,
    RESULT_UNKNOWN_PARAMETER: UnknownParameter,
    RESULT_INVALID_VALUE: InvalidValue,
    RESULT_CONFIG_FILE: ConfigFileError,
    RESULT_STRICT: StrictError,
    RESULT_CERTIFICATE: CertificateError,
    RESULT_CA_STORE: CAStoreError,
    RESULT_POLICY: PolicyError,
    RESULT_HANDSHAKE: HandshakeError,
    RESULT_TIMEOUT: TimeoutError_,
    RESULT_PEER_CLOSED: PeerClosed,
    RESULT_IO: SessionIOError,
    RESULT_WANT_READ: WantRead,
    RESULT_WANT_WRITE: WantWrite,
    RESULT_NOT_VERIFIED: NotVerified,
    RESULT_INTERRUPTED: Interrupted,
}


def _error_class(code):
    cls = _BY_CODE.get(code)
    if cls is not None:
        return cls
    if 100 <= code < 200:
        return ParameterError
    if 200 <= code < 300:
        return ContextError
    if 300 <= code < 400:
        return SessionError
    if 1 <= code < 100:
        return UsageError
    return MtatlsError


def _error(code, message):
    return _error_class(code)(message or _result_name(code), code)


# ---- C declarations ----

class _Facts(ctypes.Structure):
    """struct mtatls_session_facts, field for field."""
    _fields_ = [
        ("protocol", ctypes.c_char_p),
        ("cipher_name", ctypes.c_char_p),
        ("cipher_usebits", ctypes.c_int),
        ("cipher_algbits", ctypes.c_int),
        ("kex_name", ctypes.c_char_p),
        ("kex_curve", ctypes.c_char_p),
        ("kex_bits", ctypes.c_int),
        ("clnt_sig_name", ctypes.c_char_p),
        ("clnt_sig_curve", ctypes.c_char_p),
        ("clnt_sig_bits", ctypes.c_int),
        ("clnt_sig_dgst", ctypes.c_char_p),
        ("srvr_sig_name", ctypes.c_char_p),
        ("srvr_sig_curve", ctypes.c_char_p),
        ("srvr_sig_bits", ctypes.c_int),
        ("srvr_sig_dgst", ctypes.c_char_p),
        ("peer_cn", ctypes.c_char_p),
        ("issuer_cn", ctypes.c_char_p),
        ("peer_cert_fprint", ctypes.c_char_p),
        ("peer_pkey_fprint", ctypes.c_char_p),
        ("peer_sni", ctypes.c_char_p),
        ("peer_label", ctypes.c_char_p),
        ("peer_status", ctypes.c_uint32),
        ("trust", ctypes.c_uint32),      # mtatls_trust: uint32_t before C23
        ("forward_secret", ctypes.c_bool),
        ("reused", ctypes.c_bool),
        ("am_server", ctypes.c_bool),
    ]


_LOG_CB = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p)
_GET_CB = ctypes.CFUNCTYPE(ctypes.c_size_t, ctypes.c_void_p, ctypes.c_char_p,
                           ctypes.POINTER(ctypes.c_uint8), ctypes.c_size_t)
_PUT_CB = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_char_p,
                           ctypes.POINTER(ctypes.c_uint8), ctypes.c_size_t, ctypes.c_uint64)
_REMOVE_CB = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_char_p)

_P = ctypes.c_void_p
_PP = ctypes.POINTER(ctypes.c_void_p)
_R = ctypes.c_uint32
_S = ctypes.c_char_p
_SZ = ctypes.c_size_t
_BUF = ctypes.POINTER(ctypes.c_uint8)

_PROTOTYPES = {
    "mtatls_version": (_S, []),
    "mtatls_result_name": (_S, [ctypes.c_uint32]),
    "mtatls_params_new": (_R, [_PP]),
    "mtatls_params_free": (None, [_P]),
    "mtatls_params_set": (_R, [_P, _S, _S]),
    "mtatls_params_load_file": (_R, [_P, _S]),
    "mtatls_params_load_string": (_R, [_P, _S, _S]),
    "mtatls_params_get": (_R, [_P, _S, ctypes.c_char_p, _SZ, ctypes.POINTER(_SZ)]),
    "mtatls_params_error": (_S, [_P]),
    "mtatls_params_set_log_callback": (_R, [_P, _LOG_CB, _P]),
    "mtatls_params_self_signed": (_R, [_P, _S, _S]),
    "mtatls_params_set_session_cache": (_R, [_P, _GET_CB, _PUT_CB, _REMOVE_CB, _P]),
    "mtatls_ctx_new": (_R, [_P, _S, _PP]),
    "mtatls_ctx_free": (None, [_P]),
    "mtatls_ctx_received_header": (ctypes.c_bool, [_P]),
    "mtatls_ctx_wrappermode": (ctypes.c_bool, [_P]),
    "mtatls_ctx_tls_required": (ctypes.c_bool, [_P]),
    "mtatls_ctx_set_ticket_key": (_R, [_P, ctypes.c_char_p, _SZ, ctypes.c_uint64]),
    "mtatls_session_new": (_R, [_P, ctypes.c_int, _S, _PP]),
    "mtatls_session_free": (None, [_P]),
    "mtatls_session_set_level": (_R, [_P, _S]),
    "mtatls_session_set_peer_names": (_R, [_P, _S, _S]),
    "mtatls_session_set_match": (_R, [_P, _S]),
    "mtatls_session_add_tlsa": (_R, [_P, ctypes.c_uint8, ctypes.c_uint8, ctypes.c_uint8,
                                     ctypes.c_char_p, _SZ]),
    "mtatls_session_set_serverid": (_R, [_P, _S]),
    "mtatls_session_set_servername": (_R, [_P, _S]),
    "mtatls_session_set_tlsa_base": (_R, [_P, _S]),
    "mtatls_session_handshake": (_R, [_P, ctypes.c_int]),
    "mtatls_session_read": (_R, [_P, _BUF, _SZ, ctypes.c_int, ctypes.POINTER(_SZ)]),
    "mtatls_session_write": (_R, [_P, ctypes.c_char_p, _SZ, ctypes.c_int, ctypes.POINTER(_SZ)]),
    "mtatls_session_stop": (_R, [_P, ctypes.c_int]),
    "mtatls_session_get_facts": (ctypes.POINTER(_Facts), [_P]),
    "mtatls_session_summary": (_SZ, [_P, ctypes.c_char_p, _SZ]),
    "mtatls_session_received_comment": (_SZ, [_P, ctypes.c_char_p, _SZ]),
    "mtatls_session_error": (_S, [_P]),
    "mtatls_session_truncated": (ctypes.c_bool, [_P]),
}

_lib = None
_lib_path = None
_lib_lock = threading.Lock()


def _candidates(path):
    if path:
        return [os.fspath(path)]
    env = os.environ.get("MTATLS_LIB")
    if env:
        return [env]
    found = []
    system = ctypes.util.find_library("mtatls")
    if system:
        found.append(system)
    found.append("libmtatls.so")
    # The repository this file lives in: examples/python/ -> ../../target/.
    # Of release and debug, the most recently built comes first, so that a
    # stale build of the other profile is not picked up by accident.
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    builds = [os.path.join(root, "target", prof, "libmtatls.so") for prof in ("release", "debug")]
    builds = [b for b in builds if os.path.exists(b)]
    builds.sort(key=os.path.getmtime, reverse=True)
    return found + builds


def load(path=None):
    """Load the library (once; later calls return the same CDLL). `path`:
    an explicit file; else $MTATLS_LIB; else the system; else this
    repository's target/{release,debug}/libmtatls.so (newest first).
    An explicit path or $MTATLS_LIB is the only one tried."""
    global _lib, _lib_path
    with _lib_lock:
        if _lib is not None:
            if path and os.path.realpath(os.fspath(path)) != os.path.realpath(_lib_path):
                raise RuntimeError("mtatls already loaded from %s" % _lib_path)
            return _lib
        errors = []
        for cand in _candidates(path):
            try:
                lib = ctypes.CDLL(cand)
            except OSError as e:
                errors.append("%s: %s" % (cand, e))
                continue
            try:
                for name, (restype, argtypes) in _PROTOTYPES.items():
                    fn = getattr(lib, name)
                    fn.restype = restype
                    fn.argtypes = argtypes
            except AttributeError as e:
                errors.append("%s: %s (stale build?)" % (cand, e))
                continue
            _lib, _lib_path = lib, cand
            return lib
        raise OSError("cannot load libmtatls:\n  " + "\n  ".join(errors))


def library_path():
    """The path (or name) the library was loaded from."""
    load()
    return _lib_path


def _L():
    return _lib if _lib is not None else load()


def _result_name(code):
    try:
        return _L().mtatls_result_name(code).decode()
    except OSError:
        return "MTATLS_RESULT_%d" % code


def version():
    """mtatls_version(): e.g. 'mtatls 0.1.0 (OpenSSL 3.0.19 27 Jan 2026)'."""
    return _L().mtatls_version().decode()


def _b(text, what):
    if text is None:
        raise TypeError("%s must be a string, not None" % what)
    if isinstance(text, bytes):
        return text
    if isinstance(text, os.PathLike):
        return os.fsencode(text)
    if not isinstance(text, str):
        raise TypeError("%s must be a string" % what)
    return text.encode()


def _s(raw):
    return raw.decode("utf-8", "replace") if raw else ""


def _timeout(timeout):
    """Python timeout -> C timeout_seconds: None = default (-1), 0 = non-blocking,
    > 0 = whole seconds, rounded up."""
    if timeout is None:
        return TIMEOUT_DEFAULT
    if timeout < 0:
        raise ValueError("timeout must be None, 0 or positive")
    if timeout == 0:
        return TIMEOUT_NONBLOCK
    return max(1, int(math.ceil(timeout)))


def _sized_string(fn, handle):
    """Call an snprintf-style function returning the full length."""
    n = fn(handle, None, 0)
    if n == 0:
        return ""
    buf = ctypes.create_string_buffer(n + 1)
    fn(handle, buf, n + 1)
    return _s(buf.value)


# ---- logging ----

_logger = logging.getLogger("mtatls")


def _logging_route(level, line):
    _logger.log(logging.WARNING if level == LOG_WARNING else logging.INFO, "%s", line)


def _make_log_cb(func):
    def cb(_userdata, level, line):
        try:
            func(level, _s(line))
        except BaseException:  # never let an exception reach C
            _logger.exception("mtatls log callback failed")
    return _LOG_CB(cb)


# ---- parameters ----

class Params:
    """A set of Postfix parameter values (mtatls_params). Not thread-safe.

    log: where library lines go: a callable (level, line) with level
    LOG_INFO or LOG_WARNING; the default routes them to the logging
    logger "mtatls" (warnings at WARNING, the rest at INFO); None sends
    them to stderr as the C library does without a callback."""

    _h = None

    def __init__(self, log=_logging_route):
        lib = _L()
        out = ctypes.c_void_p()
        rc = lib.mtatls_params_new(ctypes.byref(out))
        if rc != RESULT_OK:
            raise _error(rc, "")
        self._h = out.value
        self._log_cb = None
        self._cache_cbs = None
        if log is not None:
            self.log_callback(log)

    # -- lifetime --
    def close(self):
        """Free the parameters. Contexts made from them stay valid."""
        if self._h:
            _L().mtatls_params_free(self._h)
            self._h = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def _handle(self):
        if not self._h:
            raise ValueError("Params is closed")
        return self._h

    def _check(self, rc):
        if rc != RESULT_OK:
            raise _error(rc, _s(_L().mtatls_params_error(self._h)))

    # -- values --
    def set(self, name, value):
        """Set a Postfix parameter (`smtpd_tls_protocols`, ...). Raises
        UnknownParameter / InvalidValue (both ParameterError)."""
        h = self._handle()
        if isinstance(value, bool):
            value = "yes" if value else "no"
        elif isinstance(value, int):
            value = str(value)
        self._check(_L().mtatls_params_set(h, _b(name, "name"), _b(value, "value")))
        return self

    def __setitem__(self, name, value):
        self.set(name, value)

    def __getitem__(self, name):
        return self.get(name)

    def load_file(self, path):
        """Read a main.cf file as Postfix does."""
        h = self._handle()
        self._check(_L().mtatls_params_load_file(h, _b(path, "path")))
        return self

    def load_string(self, text, origin=None):
        """Read main.cf text; `origin` names it in messages."""
        h = self._handle()
        self._check(_L().mtatls_params_load_string(
            h, _b(text, "text"), None if origin is None else _b(origin, "origin")))
        return self

    def get(self, name):
        """The expanded value of a parameter."""
        h = self._handle()
        name = _b(name, "name")
        needed = ctypes.c_size_t(0)
        self._check(_L().mtatls_params_get(h, name, None, 0, ctypes.byref(needed)))
        while True:
            size = needed.value + 1
            buf = ctypes.create_string_buffer(size)
            self._check(_L().mtatls_params_get(h, name, buf, size, ctypes.byref(needed)))
            if needed.value < size:
                return _s(buf.value)

    def self_signed(self, common_name, path):
        """Make an RSA-2048 key and self-signed certificate for `common_name`,
        write both to `path` (PEM, 0600) and set smtpd_tls_chain_files to it."""
        h = self._handle()
        self._check(_L().mtatls_params_self_signed(h, _b(common_name, "common_name"), _b(path, "path")))
        return self

    # -- callbacks --
    def log_callback(self, func=_logging_route):
        """Route log lines of contexts made from now on to func(level, line)
        (default: the "mtatls" logger); None: back to stderr."""
        h = self._handle()
        cb = _make_log_cb(func) if func is not None else None
        self._check(_L().mtatls_params_set_log_callback(h, cb if cb is not None else _LOG_CB(), None))
        self._log_cb = cb
        return self

    def session_cache(self, get=None, put=None, remove=None):
        """Client session cache in a store of the caller's (for contexts made
        from now on): get(key: str) -> bytes or None; put(key, data: bytes,
        expires: int Unix time); remove(key). All three or none (None: back
        to the library's in-memory cache). Called from handshaking threads."""
        h = self._handle()
        given = [f is not None for f in (get, put, remove)]
        if any(given) and not all(given):
            raise ValueError("session_cache needs get, put and remove, or none")
        if not any(given):
            self._check(_L().mtatls_params_set_session_cache(h, _GET_CB(), _PUT_CB(), _REMOVE_CB(), None))
            self._cache_cbs = None
            return self

        def c_get(_u, key, buf, size):
            try:
                data = get(_s(key))
                if not data:
                    return 0
                data = bytes(data)
                if len(data) <= size:
                    ctypes.memmove(buf, data, len(data))
                return len(data)
            except BaseException:
                _logger.exception("mtatls session cache get failed")
                return 0

        def c_put(_u, key, data, size, expires):
            try:
                put(_s(key), ctypes.string_at(data, size), int(expires))
            except BaseException:
                _logger.exception("mtatls session cache put failed")

        def c_remove(_u, key):
            try:
                remove(_s(key))
            except BaseException:
                _logger.exception("mtatls session cache remove failed")

        cbs = (_GET_CB(c_get), _PUT_CB(c_put), _REMOVE_CB(c_remove))
        self._check(_L().mtatls_params_set_session_cache(h, cbs[0], cbs[1], cbs[2], None))
        self._cache_cbs = cbs
        return self

    def _callbacks(self):
        return (self._log_cb, self._cache_cbs)


# ---- contexts ----

class Context:
    """A client or server TLS context (mtatls_ctx): immutable, thread-safe.
    All certificate, key and CA files are read when it is built."""

    _h = None

    def __init__(self, params, role):
        lib = _L()
        out = ctypes.c_void_p()
        rc = lib.mtatls_ctx_new(params._handle(), _b(role, "role"), ctypes.byref(out))
        if rc != RESULT_OK:
            raise _error(rc, _s(lib.mtatls_params_error(params._h)))
        self._h = out.value
        self.role = role
        # The C context (and sessions made from it) call these: keep them
        # alive as long as this object, which sessions reference.
        self._callbacks = params._callbacks()

    @classmethod
    def client(cls, params, role="smtp"):
        """A client context: role "smtp" or "lmtp"."""
        return cls(params, role)

    @classmethod
    def server(cls, params):
        """A server context (role "smtpd")."""
        return cls(params, "smtpd")

    def close(self):
        """Release this reference; sessions keep the C context alive."""
        if self._h:
            _L().mtatls_ctx_free(self._h)
            self._h = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def _handle(self):
        if not self._h:
            raise ValueError("Context is closed")
        return self._h

    @property
    def received_header(self):
        """Server: smtpd_tls_received_header."""
        return bool(_L().mtatls_ctx_received_header(self._handle()))

    @property
    def wrappermode(self):
        """Server: smtpd_tls_wrappermode (TLS on connect)."""
        return bool(_L().mtatls_ctx_wrappermode(self._handle()))

    @property
    def tls_required(self):
        """Whether TLS is mandatory for this role's default level."""
        return bool(_L().mtatls_ctx_tls_required(self._handle()))

    def set_ticket_key(self, key, expires):
        """Server: install an 80-byte session ticket key (16 name, 32 cipher,
        32 HMAC) valid for new tickets until `expires` (Unix time)."""
        key = bytes(key)
        rc = _L().mtatls_ctx_set_ticket_key(self._handle(), key, len(key), int(expires))
        if rc != RESULT_OK:
            raise _error(rc, "")


# ---- sessions ----

@dataclasses.dataclass(frozen=True)
class SessionInfo:
    """The facts of an established session (mtatls_session_facts)."""
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
    def _from_c(cls, f):
        values = {}
        for name, ctype in _Facts._fields_:
            v = getattr(f, name)
            if ctype is ctypes.c_char_p:
                v = _s(v)
            values[name] = v
        values["peer_status"] = CertStatus(values["peer_status"])
        values["trust"] = Trust(values["trust"])
        values["forward_secret"] = bool(values["forward_secret"])
        values["reused"] = bool(values["reused"])
        values["am_server"] = bool(values["am_server"])
        return cls(**values)


class Session:
    """A TLS session on one connected socket (mtatls_session), started
    after the plain-text STARTTLS exchange. `sock`: a socket object (kept
    referenced so its descriptor stays open) or a descriptor the caller
    keeps open. The library makes the descriptor non-blocking while the
    session exists and never closes it. Use from one thread at a time.

    Leaving the `with` block frees the session without close_notify: call
    stop() first for an orderly close. Timeouts: None = the Postfix
    parameter's default, 0 = non-blocking (WantRead / WantWrite), N > 0 =
    at most N seconds (rounded up to whole seconds)."""

    _h = None

    def __init__(self, ctx, sock, peer_label):
        lib = _L()
        fd = sock if isinstance(sock, int) else sock.fileno()
        if fd < 0:
            raise ValueError("socket is closed")
        out = ctypes.c_void_p()
        rc = lib.mtatls_session_new(ctx._handle(), fd, _b(peer_label, "peer_label"), ctypes.byref(out))
        if rc != RESULT_OK:
            # The library keeps no text for this failure (it is logged).
            raise _error(rc, "")
        self._h = out.value
        self._ctx = ctx      # keeps the log / cache callbacks alive
        self._sock = sock    # keeps the descriptor open
        self.peer_label = peer_label

    def close(self):
        """Free the session (no close_notify; the socket stays open)."""
        if self._h:
            _L().mtatls_session_free(self._h)
            self._h = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def _handle(self):
        if not self._h:
            raise ValueError("Session is closed")
        return self._h

    def _check(self, rc):
        if rc != RESULT_OK:
            raise _error(rc, _s(_L().mtatls_session_error(self._h)))

    # -- client settings, before the handshake --
    def set_level(self, level):
        self._check(_L().mtatls_session_set_level(self._handle(), _b(level, "level")))

    def set_peer_names(self, host="", nexthop=""):
        self._check(_L().mtatls_session_set_peer_names(
            self._handle(), _b(host, "host"), _b(nexthop, "nexthop")))

    def set_match(self, match):
        """A match list (names/strategies, or fingerprints at level
        fingerprint); a list or tuple is joined with commas."""
        if isinstance(match, (list, tuple)):
            match = ", ".join(match)
        self._check(_L().mtatls_session_set_match(self._handle(), _b(match, "match")))

    def add_tlsa(self, usage, selector, mtype, data):
        data = bytes(data)
        self._check(_L().mtatls_session_add_tlsa(
            self._handle(), usage, selector, mtype, data, len(data)))

    def set_servername(self, name):
        self._check(_L().mtatls_session_set_servername(self._handle(), _b(name, "name")))

    def set_serverid(self, serverid):
        self._check(_L().mtatls_session_set_serverid(self._handle(), _b(serverid, "serverid")))

    def set_tlsa_base(self, base):
        self._check(_L().mtatls_session_set_tlsa_base(self._handle(), _b(base, "base")))

    # -- I/O --
    def handshake(self, timeout=None):
        """Run the TLS handshake. NotVerified: completed, but the peer failed
        authentication (info and summary() are set; QUIT can still be sent)."""
        self._check(_L().mtatls_session_handshake(self._handle(), _timeout(timeout)))

    def read(self, n=4096, timeout=None):
        """Up to n decrypted bytes; b"" when the peer closed the connection."""
        h = self._handle()
        if n <= 0:
            return b""
        buf = (ctypes.c_uint8 * n)()
        got = ctypes.c_size_t(0)
        self._check(_L().mtatls_session_read(h, buf, n, _timeout(timeout), ctypes.byref(got)))
        return bytes(buf[:got.value])

    def write(self, data, timeout=None):
        """Write all of data; returns its length. Non-blocking: on WantRead /
        WantWrite call again with the same data when the socket is ready."""
        h = self._handle()
        data = bytes(data)
        done = ctypes.c_size_t(0)
        self._check(_L().mtatls_session_write(h, data, len(data), _timeout(timeout), ctypes.byref(done)))
        return done.value

    def stop(self, timeout=None):
        """Send close_notify and restore the socket's flags (socket stays open)."""
        self._check(_L().mtatls_session_stop(self._handle(), _timeout(timeout)))

    # -- results --
    @property
    def info(self):
        """SessionInfo of the established session (also after NotVerified);
        None before the handshake has completed."""
        p = _L().mtatls_session_get_facts(self._handle())
        return SessionInfo._from_c(p.contents) if p else None

    def summary(self):
        """Postfix's summary line ("Untrusted TLS connection established
        to ..."); "" before the handshake."""
        return _sized_string(_L().mtatls_session_summary, self._handle())

    def received_header(self):
        """The Received: header TLS comment: TAB-led continuation lines
        separated by "\\n"; "" before the handshake."""
        return _sized_string(_L().mtatls_session_received_comment, self._handle())

    @property
    def error(self):
        """The text of the last failed call on this session ("" if none)."""
        return _s(_L().mtatls_session_error(self._handle()))

    @property
    def truncated(self):
        """The peer closed without close_notify."""
        return bool(_L().mtatls_session_truncated(self._handle()))
