"""Finding and loading libmtatls, and the C declarations (ctypes).

The library is looked for, in this order:

1. an explicit path given to :func:`load`, else ``$MTATLS_LIB``: only that
   file is tried;
2. the system loader: ``ctypes.util.find_library("mtatls")``, then the
   SONAME this binding was written for (``libmtatls.so.0.1``), which
   ``dlopen`` looks up in ``LD_LIBRARY_PATH``, the ``ld.so`` cache and the
   system directories;
3. the ``libdir`` that ``pkg-config --variable=libdir mtatls`` names
   (``PKG_CONFIG_PATH`` is honoured), e.g. after
   ``make install PREFIX=$HOME/mtatls``.

The first candidate that loads, has every function this binding declares,
and reports (``mtatls_version()``) a compatible version is used. While the
library is 0.x the minor version must match (``libmtatls.so.0.MINOR``: no ABI
stability across minor versions); from 1.0 on, the major version must match
and the minor be at least the one this binding was written for. An
incompatible library raises :class:`~mtatls.errors.IncompatibleLibraryVersion`
naming both versions.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math
import os
import re
import shutil
import subprocess
import threading
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

from .errors import IncompatibleLibraryVersion, LibraryNotFound

#: The C API version this binding was written for (``MTATLS_VERSION_*`` of
#: the ``mtatls.h`` it declares).
BINDING_VERSION: Tuple[int, int, int] = (0, 1, 0)

TIMEOUT_DEFAULT = -1
TIMEOUT_NONBLOCK = 0
LOG_WARNING = 4
LOG_INFO = 6
TICKET_KEY_LEN = 80


def soname(version: Tuple[int, int, int] = BINDING_VERSION) -> str:
    """The SONAME of a library version: ``libmtatls.so.0.MINOR`` while the
    major version is 0, else ``libmtatls.so.MAJOR``."""
    if version[0] == 0:
        return "libmtatls.so.0.%d" % version[1]
    return "libmtatls.so.%d" % version[0]


_VERSION_RE = re.compile(r"^mtatls (\d+)\.(\d+)\.(\d+)\b")


def parse_version(text: str) -> Optional[Tuple[int, int, int]]:
    """``(major, minor, patch)`` of a ``mtatls_version()`` text such as
    ``"mtatls 0.1.0 (OpenSSL 3.0.19 27 Jan 2026)"``; None if it is not one."""
    m = _VERSION_RE.match(text)
    if m is None:
        return None
    return (int(m.group(1)), int(m.group(2)), int(m.group(3)))


def compatible(library: Tuple[int, int, int], binding: Tuple[int, int, int] = BINDING_VERSION) -> bool:
    """Whether a library version can serve this binding (see the module doc)."""
    if binding[0] == 0:
        return library[:2] == binding[:2]
    return library[0] == binding[0] and library[1] >= binding[1]


# ---- C declarations (mtatls.h) ----


class Facts(ctypes.Structure):
    """``struct mtatls_session_facts``, field for field."""

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
        ("trust", ctypes.c_uint32),  # mtatls_trust: uint32_t before C23
        ("forward_secret", ctypes.c_bool),
        ("reused", ctypes.c_bool),
        ("am_server", ctypes.c_bool),
    ]


LOG_CB = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p)
GET_CB = ctypes.CFUNCTYPE(
    ctypes.c_size_t, ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_uint8), ctypes.c_size_t
)
PUT_CB = ctypes.CFUNCTYPE(
    None, ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_uint8), ctypes.c_size_t, ctypes.c_uint64
)
REMOVE_CB = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_char_p)
SNI_CB = ctypes.CFUNCTYPE(ctypes.c_bool, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t)

_P = ctypes.c_void_p
_PP = ctypes.POINTER(ctypes.c_void_p)
_R = ctypes.c_uint32
_S = ctypes.c_char_p
_SZ = ctypes.c_size_t
_PSZ = ctypes.POINTER(ctypes.c_size_t)
_I = ctypes.c_int
_U8 = ctypes.c_uint8

#: Every function of mtatls.h: name -> (restype, argtypes).
PROTOTYPES: Dict[str, Tuple[Any, List[Any]]] = {
    "mtatls_version": (_S, []),
    "mtatls_result_name": (_S, [ctypes.c_uint32]),
    "mtatls_params_new": (_R, [_PP]),
    "mtatls_params_free": (None, [_P]),
    "mtatls_params_set": (_R, [_P, _S, _S]),
    "mtatls_params_load_file": (_R, [_P, _S]),
    "mtatls_params_load_string": (_R, [_P, _S, _S]),
    "mtatls_params_get": (_R, [_P, _S, ctypes.c_char_p, _SZ, _PSZ]),
    "mtatls_params_error": (_S, [_P]),
    "mtatls_params_set_log_callback": (_R, [_P, LOG_CB, _P]),
    "mtatls_params_self_signed": (_R, [_P, _S, _S]),
    "mtatls_params_set_session_cache": (_R, [_P, GET_CB, PUT_CB, REMOVE_CB, _P]),
    "mtatls_params_set_sni_callback": (_R, [_P, SNI_CB, _P]),
    "mtatls_params_set_session_cache_name": (_R, [_P, _S]),
    "mtatls_ctx_new": (_R, [_P, _S, _PP]),
    "mtatls_ctx_free": (None, [_P]),
    "mtatls_ctx_received_header": (ctypes.c_bool, [_P]),
    "mtatls_ctx_wrappermode": (ctypes.c_bool, [_P]),
    "mtatls_ctx_tls_required": (ctypes.c_bool, [_P]),
    "mtatls_ctx_set_ticket_key": (_R, [_P, ctypes.c_char_p, _SZ, ctypes.c_uint64]),
    "mtatls_ctx_fs_report": (_SZ, [_P, ctypes.c_bool, ctypes.c_char_p, _SZ]),
    "mtatls_session_new": (_R, [_P, _I, _S, _PP]),
    "mtatls_session_free": (None, [_P]),
    "mtatls_session_set_level": (_R, [_P, _S]),
    "mtatls_session_set_peer_names": (_R, [_P, _S, _S]),
    "mtatls_session_set_match": (_R, [_P, _S]),
    "mtatls_session_add_tlsa": (_R, [_P, _U8, _U8, _U8, ctypes.c_char_p, _SZ]),
    "mtatls_session_set_serverid": (_R, [_P, _S]),
    "mtatls_session_set_servername": (_R, [_P, _S]),
    "mtatls_session_set_tlsa_base": (_R, [_P, _S]),
    "mtatls_session_set_protocols": (_R, [_P, _S]),
    "mtatls_session_set_cipher_grade": (_R, [_P, _S]),
    "mtatls_session_set_exclusions": (_R, [_P, _S]),
    "mtatls_session_set_fingerprint_digest": (_R, [_P, _S]),
    "mtatls_session_set_ca_file": (_R, [_P, _S]),
    "mtatls_session_set_ca_path": (_R, [_P, _S]),
    "mtatls_session_set_trust_anchor_file": (_R, [_P, _S]),
    "mtatls_session_set_chain_files": (_R, [_P, _S]),
    "mtatls_session_set_loglevel": (_R, [_P, _S]),
    "mtatls_session_peer_certificate_count": (_SZ, [_P, ctypes.c_bool]),
    "mtatls_session_peer_certificate": (_SZ, [_P, ctypes.c_bool, _SZ, _I, ctypes.c_void_p, _SZ]),
    "mtatls_session_handshake": (_R, [_P, _I]),
    "mtatls_session_read": (_R, [_P, ctypes.c_void_p, _SZ, _I, _PSZ]),
    "mtatls_session_write": (_R, [_P, ctypes.c_char_p, _SZ, _I, _PSZ]),
    "mtatls_session_stop": (_R, [_P, _I]),
    "mtatls_session_get_facts": (ctypes.POINTER(Facts), [_P]),
    "mtatls_session_summary": (_SZ, [_P, ctypes.c_char_p, _SZ]),
    "mtatls_session_received_comment": (_SZ, [_P, ctypes.c_char_p, _SZ]),
    "mtatls_session_error": (_S, [_P]),
    "mtatls_session_truncated": (ctypes.c_bool, [_P]),
    "mtatls_session_tlsrpt_result": (_I, [_P]),
    "mtatls_tlsrpt_result_name": (_S, [_I]),
    "mtatls_session_tlsrpt_reason": (_SZ, [_P, ctypes.c_char_p, _SZ]),
    "mtatls_session_tlsrpt_additional_info": (_SZ, [_P, ctypes.c_char_p, _SZ]),
    "mtatls_session_tlsrpt_receiving_mx": (_SZ, [_P, ctypes.c_char_p, _SZ]),
    "mtatls_session_tlsrpt_receiving_ip": (_SZ, [_P, ctypes.c_char_p, _SZ]),
    "mtatls_session_tlsrpt_sending_ip": (_SZ, [_P, ctypes.c_char_p, _SZ]),
    "mtatls_session_tlsrpt_policy_type": (_I, [_P]),
    "mtatls_session_tlsrpt_policy_domain": (_SZ, [_P, ctypes.c_char_p, _SZ]),
    "mtatls_session_tlsrpt_policy_string_count": (_SZ, [_P]),
    "mtatls_session_tlsrpt_policy_string": (_SZ, [_P, _SZ, ctypes.c_char_p, _SZ]),
}


# ---- loading ----

_lib: Optional[ctypes.CDLL] = None
_lib_path: Optional[str] = None
_lib_version: Optional[str] = None
_lock = threading.Lock()

PathLike = Union[str, "os.PathLike[str]"]


def pkg_config_libdir() -> Optional[str]:
    """``pkg-config --variable=libdir mtatls``, or None (no pkg-config, no
    mtatls.pc, an empty answer)."""
    exe = shutil.which("pkg-config")
    if exe is None:
        return None
    try:
        out = subprocess.run(
            [exe, "--variable=libdir", "mtatls"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    libdir = out.stdout.strip()
    return libdir if out.returncode == 0 and libdir else None


def candidates(path: Optional[PathLike] = None) -> List[Tuple[str, str]]:
    """``(candidate, how it was found)`` in the order :func:`load` tries them."""
    if path is not None:
        return [(os.fspath(path), "load(path)")]
    env = os.environ.get("MTATLS_LIB")
    if env:
        return [(env, "$MTATLS_LIB")]
    found: List[Tuple[str, str]] = []
    system = ctypes.util.find_library("mtatls")
    if system:
        found.append((system, "ctypes.util.find_library"))
    found.append((soname(), "system loader (SONAME)"))
    libdir = pkg_config_libdir()
    if libdir is not None:
        for name in (soname(), "libmtatls.so"):
            found.append((os.path.join(libdir, name), "pkg-config libdir"))
    seen = set()
    unique: List[Tuple[str, str]] = []
    for cand, how in found:
        if cand not in seen:
            seen.add(cand)
            unique.append((cand, how))
    return unique


def _declare(lib: ctypes.CDLL) -> None:
    for name, (restype, argtypes) in PROTOTYPES.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes


def _loaded_path(lib: ctypes.CDLL, fallback: str) -> str:
    """The file a CDLL came from (dladdr of one of its functions)."""

    class _DlInfo(ctypes.Structure):
        _fields_ = [
            ("dli_fname", ctypes.c_char_p),
            ("dli_fbase", ctypes.c_void_p),
            ("dli_sname", ctypes.c_char_p),
            ("dli_saddr", ctypes.c_void_p),
        ]

    try:
        libc = ctypes.CDLL(None)
        dladdr = libc.dladdr
    except (OSError, AttributeError):
        return fallback
    dladdr.argtypes = [ctypes.c_void_p, ctypes.POINTER(_DlInfo)]
    dladdr.restype = ctypes.c_int
    info = _DlInfo()
    addr = ctypes.cast(lib.mtatls_version, ctypes.c_void_p)
    if dladdr(addr, ctypes.byref(info)) and info.dli_fname:
        path = os.fsdecode(info.dli_fname)
        return os.path.abspath(path) if os.sep in path else path
    return fallback


def load(path: Optional[PathLike] = None) -> ctypes.CDLL:
    """Load the library once (later calls return the same handle) and
    declare its functions. ``path``: that file only; else ``$MTATLS_LIB``;
    else the system loader; else pkg-config's libdir (see the module doc).

    Raises :class:`~mtatls.errors.IncompatibleLibraryVersion` when the
    library found is of an incompatible version, and
    :class:`~mtatls.errors.LibraryNotFound` when none loads."""
    global _lib, _lib_path, _lib_version
    with _lock:
        if _lib is not None:
            if path is not None and os.path.realpath(os.fspath(path)) != os.path.realpath(_lib_path or ""):
                raise RuntimeError("libmtatls is already loaded from %s" % _lib_path)
            return _lib
        attempts: List[Tuple[str, str]] = []
        incompatible: Optional[IncompatibleLibraryVersion] = None
        for cand, how in candidates(path):
            try:
                lib = ctypes.CDLL(cand)
            except OSError as e:
                attempts.append((cand, "%s: %s" % (how, e)))
                continue
            try:
                lib.mtatls_version.restype = ctypes.c_char_p
                lib.mtatls_version.argtypes = []
                text = (lib.mtatls_version() or b"").decode("utf-8", "replace")
            except AttributeError:
                attempts.append((cand, "%s: no mtatls_version(): not libmtatls" % how))
                continue
            where = _loaded_path(lib, cand)
            version = parse_version(text)
            if version is None:
                attempts.append((where, "%s: mtatls_version() says %r" % (how, text)))
                continue
            if not compatible(version):
                if incompatible is None:
                    incompatible = IncompatibleLibraryVersion(where, version, BINDING_VERSION, text)
                attempts.append((where, "%s: version %d.%d.%d" % ((how,) + version)))
                continue
            try:
                _declare(lib)
            except AttributeError as e:
                attempts.append((where, "%s: %s (an older build?)" % (how, e)))
                continue
            _lib, _lib_path, _lib_version = lib, where, text
            return lib
        if incompatible is not None:
            raise incompatible
        raise LibraryNotFound(attempts)


def lib() -> ctypes.CDLL:
    """The loaded library, loading it on first use."""
    return _lib if _lib is not None else load()


def library_path() -> str:
    """The file the library was loaded from (loading it if needed)."""
    load()
    assert _lib_path is not None
    return _lib_path


def version() -> str:
    """``mtatls_version()``: e.g. ``"mtatls 0.1.0 (OpenSSL 3.0.19 27 Jan 2026)"``."""
    load()
    assert _lib_version is not None
    return _lib_version


# ---- conversions ----

StrLike = Union[str, bytes, "os.PathLike[str]"]


def b(text: StrLike, what: str) -> bytes:
    """A str / bytes / path argument as the C string the library takes."""
    if isinstance(text, bytes):
        return text
    if isinstance(text, str):
        return text.encode()
    if isinstance(text, os.PathLike):
        return os.fsencode(text)
    raise TypeError("%s must be a string, not %s" % (what, type(text).__name__))


def s(raw: Optional[bytes]) -> str:
    """A C string from the library as str ("" for NULL)."""
    return raw.decode("utf-8", "replace") if raw else ""


def c_timeout(timeout: Optional[float]) -> int:
    """A Python timeout as the C ``timeout_seconds``: None -> the Postfix
    parameter's default (-1); 0 -> non-blocking (0); > 0 -> whole seconds,
    rounded up."""
    if timeout is None:
        return TIMEOUT_DEFAULT
    if timeout < 0:
        raise ValueError("timeout must be None, 0 or positive")
    if timeout == 0:
        return TIMEOUT_NONBLOCK
    return max(1, int(math.ceil(timeout)))


def sized_string(fn: Callable[..., int], handle: Optional[int], *args: Any) -> str:
    """Call an snprintf-style function (``fn(handle, *args, buf, len)``
    returning the full length) and return the whole text."""
    n = fn(handle, *args, None, 0)
    if n == 0:
        return ""
    buf = ctypes.create_string_buffer(n + 1)
    fn(handle, *args, buf, n + 1)
    return s(buf.value)


